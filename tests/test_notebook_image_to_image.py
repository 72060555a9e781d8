"""colab/image_to_image.ipynb: the Pix2Pix, CycleGAN and SRGAN demos, and translating new images."""
import pytest

from tests.notebooks import images_shown, run_notebook

pytestmark = pytest.mark.slow  # trains to a measured result, or runs a notebook or processes


def test_image_to_image_notebook(tmp_path, data_dir, monkeypatch):
  outputs = run_notebook('image_to_image.ipynb', tmp_path, data_dir, monkeypatch)
  assert images_shown(outputs) == 5  # three demo grids, two translated sketches
