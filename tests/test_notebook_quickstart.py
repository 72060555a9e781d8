"""colab/quickstart.ipynb: trains DCGAN, shows its samples and losses, and resumes."""
import os

import pytest

from tests.notebooks import images_shown, printed, run_notebook

pytestmark = pytest.mark.slow  # trains to a measured result, or runs a notebook or processes


def test_quickstart_notebook(tmp_path, data_dir, monkeypatch):
  outputs = run_notebook('quickstart.ipynb', tmp_path, data_dir, monkeypatch)
  assert images_shown(outputs) == 3  # the grid after training, the loss curves, the grid after resuming
  assert 'resumed from' in printed(outputs)
  assert sorted(os.listdir(tmp_path / 'runs' / 'quickstart_dcgan' / 'checkpoints')) == ['150', '200']
