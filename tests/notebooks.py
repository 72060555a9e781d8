"""Runs a Colab notebook top to bottom with its small (CPU) settings, failing on any cell's error; one test file
per notebook, so that pytest-xdist spreads them over the workers."""
import os

import nbformat
from nbclient import NotebookClient

from tests.small import ROOT


def run_notebook(name: str, tmp_path, data_dir: str, monkeypatch) -> list[dict]:
  """Executes colab/<name> and returns its code cells' outputs."""
  # The kernel inherits these: small settings, runs and TFDS data in the test's directories, not the checkout's.
  monkeypatch.setenv('JGAN_NOTEBOOK_SMALL', '1')
  monkeypatch.setenv('JGAN_RUNS', str(tmp_path / 'runs'))
  monkeypatch.setenv('TFDS_DATA_DIR', data_dir)
  path = os.path.join(ROOT, 'colab', name)
  notebook = nbformat.read(path, as_version=4)
  NotebookClient(notebook, timeout=600, kernel_name='python3',
                 resources={'metadata': {'path': os.path.dirname(path)}}).execute()
  return [output for cell in notebook.cells if cell.cell_type == 'code' for output in cell.outputs]


def images_shown(outputs: list[dict]) -> int:
  return sum(output.get('output_type') == 'display_data' and 'image/png' in output.get('data', {})
             for output in outputs)


def printed(outputs: list[dict]) -> str:
  return ''.join(output.get('text', '') for output in outputs if output.get('output_type') == 'stream')
