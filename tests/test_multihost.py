"""Two processes of 4 CPU devices (jax.distributed on localhost) train as one process of 8 does."""
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from jgan import runs
from tests.small import ROOT, metrics_by_step

pytestmark = pytest.mark.slow  # trains to a measured result, or runs a notebook or processes


def _train_command(workdir, data_dir, *flags):
  config = os.path.join(ROOT, 'configs', 'dcgan_digits.py')
  return [sys.executable, os.path.join(ROOT, 'train.py'), f'--config={config}',
          f'--workdir={workdir}', '--config.model.g_width=4', '--config.model.d_width=4', '--config.data.resolution=16',
          '--config.train.batch_size=16', '--config.train.steps=3', '--config.train.log_every=1',
          '--config.train.sample_every=3', '--config.train.checkpoint_every=3', '--config.train.grid_size=2',
          '--config.eval.num_samples=0', f'--config.data.data_dir={data_dir}', *flags]


def _env(devices):
  return {**os.environ, 'XLA_FLAGS': f'--xla_force_host_platform_device_count={devices}', 'JAX_PLATFORMS': 'cpu'}


def test_two_processes_end_with_the_parameters_of_one(tmp_path, data_dir):
  one = subprocess.run(_train_command(tmp_path / 'one', data_dir), env=_env(8), capture_output=True, text=True,
                       timeout=600)
  assert one.returncode == 0, one.stderr[-3000:]
  with socket.socket() as probe:
    probe.bind(('127.0.0.1', 0))
    port = probe.getsockname()[1]
  processes = [subprocess.Popen(_train_command(tmp_path / 'two', data_dir, f'--coordinator_address=127.0.0.1:{port}',
                                               '--num_processes=2', f'--process_id={i}'),
                                env=_env(4), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(2)]
  try:
    outputs = [p.communicate(timeout=300) for p in processes]
  finally:  # a process that failed leaves the other waiting for it
    for p in processes:
      p.kill()
  for process, (_, stderr) in zip(processes, outputs, strict=True):
    assert process.returncode == 0, stderr[-3000:]
  assert 'step       3/3' in outputs[0][0] and 'step' not in outputs[1][0]  # process 0 alone logs
  # The same global batches, BatchNorm over the global batch: the same training, up to summation order.
  straight, split = runs.load_run(str(tmp_path / 'one')), runs.load_run(str(tmp_path / 'two'))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               jax.device_get(straight.state.params), jax.device_get(split.state.params))
  for step in (1, 2, 3):
    for key, value in metrics_by_step(tmp_path / 'one')[step].items():
      np.testing.assert_allclose(metrics_by_step(tmp_path / 'two')[step][key], value, rtol=1e-3, atol=1e-5)
