"""colab/biggan.ipynb: class-conditional grids, a single class truncated, the truncation sweep."""
import pytest

from tests.notebooks import images_shown, run_notebook

pytestmark = pytest.mark.slow  # trains to a measured result, or runs a notebook or processes


def test_biggan_notebook(tmp_path, data_dir, monkeypatch):
  outputs = run_notebook('biggan.ipynb', tmp_path, data_dir, monkeypatch)
  assert images_shown(outputs) == 6  # samples, lerp, slerp, nearest neighbours, sevens, the sweep's plot
