"""colab/stylegan.ipynb: style mixing, truncation psi, W interpolation and a projection."""
from tests.notebooks import images_shown, printed, run_notebook


def test_stylegan_notebook(tmp_path, data_dir, monkeypatch):
  outputs = run_notebook('stylegan.ipynb', tmp_path, data_dir, monkeypatch)
  assert images_shown(outputs) == 4
  assert 'pixel MSE' in printed(outputs)
