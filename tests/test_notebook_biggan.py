"""colab/biggan.ipynb: class-conditional grids, a single class truncated, the truncation sweep."""
from tests.notebooks import images_shown, run_notebook


def test_biggan_notebook(tmp_path, data_dir, monkeypatch):
  outputs = run_notebook('biggan.ipynb', tmp_path, data_dir, monkeypatch)
  assert images_shown(outputs) == 6  # samples, lerp, slerp, nearest neighbours, sevens, the sweep's plot
