"""Shared fixtures: one TFDS data_dir and one classifier cache per test worker, tiny configs."""
from __future__ import annotations

import os
import tempfile

# Set before JAX is imported (train.py subprocesses inherit it): tests compile the same tiny steps many
# times, and a persistent compilation cache shared by the workers compiles each once.
os.environ.setdefault('JAX_COMPILATION_CACHE_DIR', os.path.join(tempfile.gettempdir(), 'jgan-test-jax-cache'))
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0.5')

import pytest  # noqa: E402

from jgan.config import base_config  # noqa: E402


@pytest.fixture(scope='session')
def data_dir(tmp_path_factory) -> str:
  """A TFDS data_dir per worker: the bundled digits are prepared there once."""
  return str(tmp_path_factory.mktemp('tfds'))


@pytest.fixture(scope='session', autouse=True)
def classifier_cache(tmp_path_factory) -> str:
  """The digits classifier is trained once per worker, not in the user's ~/.cache."""
  path = str(tmp_path_factory.mktemp('jgan_cache'))
  os.environ['JGAN_CACHE_DIR'] = path
  return path


@pytest.fixture
def tiny_config(data_dir):
  """A DCGAN small enough to compile and step in about a second, on the digits at 16x16."""
  config = base_config('dcgan', g_width=4, d_width=4, z_dim=8)
  config.data.data_dir = data_dir
  config.data.resolution = 16
  config.train.batch_size = 16
  config.train.steps = 4
  config.train.log_every = 1
  config.train.sample_every = 2
  config.train.checkpoint_every = 2
  config.train.grid_size = 2
  config.eval.num_samples = 0
  return config
