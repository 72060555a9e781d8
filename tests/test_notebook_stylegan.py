"""colab/stylegan.ipynb: style mixing, truncation psi, W interpolation and a projection."""
import pytest

from tests.notebooks import images_shown, printed, run_notebook

pytestmark = pytest.mark.slow  # trains to a measured result, or runs a notebook or processes


def test_stylegan_notebook(tmp_path, data_dir, monkeypatch):
  outputs = run_notebook('stylegan.ipynb', tmp_path, data_dir, monkeypatch)
  assert images_shown(outputs) == 4
  assert 'pixel MSE' in printed(outputs)
