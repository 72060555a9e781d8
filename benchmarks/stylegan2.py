"""StyleGAN2 at 256x256 (StyleGAN2-ADA's `auto` config for one GPU: channel_base 16384, 2 mapping layers,
batch 16, R1 every 16 steps, path lengths every 4): step time and sec/kimg on this machine's devices.

The lazy regularisers make iterations differ, so each of the three kinds of step is timed apart (plain: D and
G; with R1; with path lengths) and combined in the schedule's proportions: a step costs
plain + (R1 - plain) / 16 + (path - plain) / 4. sec/kimg = that / batch * 1000 (kimg: thousands of real
images shown to D), StyleGAN2-ADA's unit; its README lists 21.6-24.2 sec/kimg for this configuration on one
V100 (with ADA's augmentation, which is not included here).

  python benchmarks/stylegan2.py --batch=4 --steps=2                   # CPU, float32
  python benchmarks/stylegan2.py --batch=16 --steps=10 --num_bf16_res=4  # a GPU, StyleGAN2-ADA's mixed precision

benchmarks/torch_stylegan2.py times the reference StyleGAN2-ADA the same way.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time

import jax
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from jgan import sharding  # noqa: E402
from jgan.config import load_file  # noqa: E402
from jgan.engine import initial_state, jit_steps  # noqa: E402
from jgan.games import style  # noqa: E402
from jgan.host_memory import retain_freed_memory, run_with_huge_pages  # noqa: E402


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--batch', type=int, default=4)
  parser.add_argument('--steps', type=int, default=2)
  parser.add_argument('--num_bf16_res', type=int, default=0,
                      help="resolutions computed in bfloat16 (the config's 4 on a GPU); 0: float32, for the CPU")
  parser.add_argument('--retain_host_memory', action='store_true', help="as train.py's flag: jgan.host_memory")
  args = parser.parse_args()
  if args.retain_host_memory:
    print(f'glibc malloc retains freed memory: {retain_freed_memory()}', flush=True)

  config = load_file(os.path.join(ROOT, 'configs', 'stylegan2_ffhq256.py'))
  config.model.mapping_layers = 2  # StyleGAN2-ADA's auto config
  config.model.update(num_bf16_res=args.num_bf16_res, conv_clamp=256.0 if args.num_bf16_res else 0.0)
  config.train.batch_size = args.batch
  config.gan.update(r1_gamma=0.0002 * 256**2 / 16, r1_every=16, pl_every=4)  # auto's gamma for batch 16
  game = style.build_game(config, (256, 256, 3))
  names = [phase.name for phase in game.phases]
  mesh = sharding.make_mesh()
  state = initial_state(game, 0, mesh)
  params = sum(x.size for x in jax.tree.leaves(state.params))
  step = jit_steps(game, mesh).one
  images = np.random.default_rng(0).uniform(-1, 1, (1, args.batch, 256, 256, 3)).astype(np.float32)
  batch = jax.device_put({'image': images}, sharding.batch_sharding(mesh))

  seconds, compile_s = {}, {}
  for kind, extra in (('plain', ()), ('r1', ('d_r1',)), ('path', ('g_pl',))):
    active = tuple(name in ('d', 'g', *extra) for name in names)
    start = time.perf_counter()
    state, metrics = step(state, batch, active)
    jax.block_until_ready(metrics)
    compile_s[kind] = time.perf_counter() - start
    times = []
    for _ in range(args.steps):
      start = time.perf_counter()
      state, metrics = step(state, batch, active)
      jax.block_until_ready(metrics)
      times.append(time.perf_counter() - start)
    seconds[kind] = statistics.median(times)
  average = seconds['plain'] + (seconds['r1'] - seconds['plain']) / 16 + (seconds['path'] - seconds['plain']) / 4
  device = jax.devices()[0]
  if device.platform == 'cpu':
    memory = f'peak host RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB'
  else:
    memory = f"peak device memory {device.memory_stats().get('peak_bytes_in_use', 0) / 2**30:.2f} GiB"
  print(f'{device.device_kind} x{jax.device_count()}, batch {args.batch}, {params:,} parameters (G + D)')
  for kind in seconds:
    print(f'  {kind:5s} step: {seconds[kind]:.2f} s (median of {args.steps}; first call with compilation '
          f'{compile_s[kind]:.0f} s)')
  print(f'average step {average:.2f} s: {args.batch / average:.2f} img/s, {average / args.batch * 1000:.0f} '
        f'sec/kimg, {memory}')


if __name__ == '__main__':
  run_with_huge_pages()  # as train.py runs: jgan.host_memory
  main()
