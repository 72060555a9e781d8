"""Time jgan's DCGAN and WGAN-GP train steps, set up like ../shared/bench/torch_dcgan.py (the PyTorch twin).

Canonical DCGAN (nz=100, ngf=ndf=64 unless --width), batch 64, one D and one G update per step, Adam as in the twin;
WGAN-GP: no BatchNorm in the critic, penalty lambda=10 from jax.grad on interpolates (a double backward).
Prints one line per setting: median ms per step (D update + G update), images/s, peak memory, device.
Run from the repository root:  python benchmarks/step_time.py [--res 64 --channels 3 --loss both]
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

import jax
import numpy as np

from jgan import sharding
from jgan.config import base_config
from jgan.engine import initial_state, jit_steps
from jgan.games import adversarial
from jgan.host_memory import retain_freed_memory, run_with_huge_pages


def make_config(loss: str, res: int, channels: int, width: int = 64, dtype: str = 'float32'):
  if loss == 'bce':
    config = base_config('dcgan', g_width=width, d_width=width, z_dim=100)
    config.gan.loss = 'non_saturating'  # BCE for D and G, as the twin's BCEWithLogitsLoss
  else:
    config = base_config('dcgan', g_width=width, d_width=width, z_dim=100, d_norm='none')
    config.gan.loss = 'wasserstein'
    config.gan.gp_weight = 10.0
    config.optim.g.update(lr=1e-4, b1=0.0, b2=0.9)
    config.optim.d.update(lr=1e-4, b1=0.0, b2=0.9)
  config.data.resolution, config.data.channels = res, channels
  config.model.compute_dtype = dtype
  return config


def peak_memory_mb() -> float:
  device = jax.devices()[0]
  stats = device.memory_stats() if device.platform != 'cpu' else None
  if stats and 'peak_bytes_in_use' in stats:
    return stats['peak_bytes_in_use'] / 2**20
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # host process peak RSS


def time_step(loss: str, res: int, channels: int, batch: int, steps: int, warmup: int, width: int,
              dtype: str = 'float32') -> str:
  config = make_config(loss, res, channels, width, dtype)
  game = adversarial.build_game(config, (res, res, channels))
  mesh = sharding.make_mesh()
  state = initial_state(game, 0, mesh)
  step = jit_steps(game, mesh).one
  rng = np.random.default_rng(0)
  real = {'image': rng.uniform(-1, 1, (1, batch, res, res, channels)).astype(np.float32),
          'label': np.zeros((1, batch), np.int32)}
  real = jax.device_put(real, sharding.batch_sharding(mesh))
  active = game.active_phases(0)
  compile_start = time.perf_counter()
  state, _ = step(state, real, active)
  jax.block_until_ready(state)
  compile_s = time.perf_counter() - compile_start
  for _ in range(warmup):
    state, _ = step(state, real, active)
  jax.block_until_ready(state)
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    state, _ = step(state, real, active)
    jax.block_until_ready(state)
    times.append(time.perf_counter() - start)
  ms = statistics.median(times) * 1e3
  return (f'jax {jax.__version__} {jax.device_count()}x{jax.devices()[0].device_kind} res={res} nc={channels} '
          f'batch={batch} width={width} loss={loss} {dtype}: {ms:.1f} ms/step, {batch / ms * 1e3:.0f} img/s, '
          f'first call (compile) {compile_s:.1f} s, peak memory {peak_memory_mb():.0f} MiB')


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--res', type=int, default=64)
  parser.add_argument('--channels', type=int, default=3)
  parser.add_argument('--batch', type=int, default=64)
  parser.add_argument('--width', type=int, default=64, help='ngf = ndf (the twin uses 64)')
  parser.add_argument('--loss', choices=['bce', 'wgan-gp', 'both'], default='both')
  parser.add_argument('--dtype', choices=['float32', 'bfloat16'], default='float32', help='model.compute_dtype')
  parser.add_argument('--steps', type=int, default=20)
  parser.add_argument('--warmup', type=int, default=3)
  parser.add_argument('--retain_host_memory', action='store_true', help="as train.py's flag: jgan.host_memory")
  args = parser.parse_args()
  print(f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '')}", flush=True)  # huge pages unless =0
  if args.retain_host_memory:
    print(f'glibc malloc retains freed memory: {retain_freed_memory()}', flush=True)
  for loss in (['bce', 'wgan-gp'] if args.loss == 'both' else [args.loss]):
    print(time_step(loss, args.res, args.channels, args.batch, args.steps, args.warmup, args.width, args.dtype),
          flush=True)


if __name__ == '__main__':
  run_with_huge_pages()  # as train.py runs: jgan.host_memory
  main()
