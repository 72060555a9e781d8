"""StyleGAN2 learns the bundled digits in a CI-sized run, with every ingredient of its game on: style mixing,
lazy R1 and path-length regularisation, the moving average of w, the EMA of G."""
import json
import os

import jax
import numpy as np
import pytest

from jgan import runs, train
from jgan.config import load_file
from tests.small import ROOT

pytestmark = pytest.mark.slow  # trains to a measured result, or runs a notebook or processes


def test_stylegan2_improves_its_digits_fd(tmp_path, data_dir):
  config = load_file(os.path.join(ROOT, 'configs', 'stylegan2_digits.py'))
  config.data.data_dir = data_dir
  config.train.update(steps=120, log_every=20, sample_every=120, checkpoint_every=120)
  config.eval.num_samples = 500
  train.run(config, str(tmp_path))
  with open(tmp_path / 'metrics.jsonl') as f:
    rows = list(map(json.loads, f))
  fd = {row['step']: row['eval/digits_fd'] for row in rows if 'eval/digits_fd' in row}
  # Measured here (2-core CPU): FD 3008 untrained -> 244 after 100 steps, 152 after 160.
  print(f'StyleGAN2 digits FD: {fd[0]:.0f} untrained -> {fd[120]:.0f} after 120 steps')
  assert fd[120] < fd[0] / 5
  # Every lazy phase ran (R1 at steps 0, 16, ...; path lengths at 0, 4, ...) and the statistics moved.
  logged = set().union(*rows)
  assert {'d_r1/r1', 'g_pl/path_length', 'g_pl/pl_penalty'} <= logged
  run = runs.load_run(str(tmp_path))
  stats = jax.device_get(run.state.collections['g']['stats'])
  assert float(stats['pl_mean']) > 0 and np.linalg.norm(stats['w_avg']) > 0
