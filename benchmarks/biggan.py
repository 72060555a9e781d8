"""BigGAN-128 (configs/biggan_imagenet128.py): forward FLOPs per image, counted from the architecture, and
the train-step time on this machine's devices.

FLOPs: every convolution and dense layer the networks call (2 x multiply-adds, found by intercepting the Flax
modules: 2 * output elements * kernel height * width * input channels) plus self-attention's two batched matrix
products; XLA's own count of the forward pass compiled for the CPU is printed beside it as a check (a GPU
compilation's cuDNN convolutions are not in XLA's count). One train step is the config's 2 D updates and 1 G
update, each a forward and a backward pass (about 3x the forward), so its FLOPs are estimated as
3 x (2 x (G + 2 D) + (G + D)) per image; MFU divides the achieved rate by the device's peak (--peak_tflops,
e.g. 989 for an H100 SXM in bf16 dense).

  python benchmarks/biggan.py --batch=4 --steps=3                      # CPU: float32, no accumulation
  python benchmarks/biggan.py --batch=256 --dtype=bfloat16 --peak_tflops=989   # a GPU
"""
from __future__ import annotations

import argparse
import functools
import math
import os
import resource
import statistics
import sys
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from jgan import sharding  # noqa: E402
from jgan.config import load_file  # noqa: E402
from jgan.engine import cpu_flops, init_state, jit_steps  # noqa: E402
from jgan.games import adversarial  # noqa: E402
from jgan.host_memory import run_with_huge_pages  # noqa: E402
from jgan.nn.layers import SelfAttention  # noqa: E402


def layer_flops(module: nn.Module, variables: dict, *args, **kwargs) -> int:
  """FLOPs of one forward pass of `module`, summed over its Conv, Dense and SelfAttention calls."""
  total = 0

  def count(next_fun, args, kwargs, context):
    nonlocal total
    out = next_fun(*args, **kwargs)
    module = context.module
    if context.method_name == '__call__' and isinstance(module, nn.Conv):
      kernel = module.variables['params']['kernel']
      total += 2 * math.prod(out.shape) * math.prod(kernel.shape[:-1])
    elif context.method_name == '__call__' and isinstance(module, nn.Dense):
      total += 2 * math.prod(out.shape) * args[0].shape[-1]
    elif context.method_name == '__call__' and isinstance(module, SelfAttention):
      batch, height, width, channels = args[0].shape
      queries, keys = height * width, height * width // 4
      total += 2 * batch * queries * keys * (channels // 8 + channels // 2)  # q.k^T and attention.v
    return out

  with nn.intercept_methods(count):
    jax.eval_shape(lambda: module.apply(variables, *args, **kwargs))
  return total


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--batch', type=int, default=4)
  parser.add_argument('--steps', type=int, default=3)
  parser.add_argument('--dtype', default='float32', choices=['float32', 'bfloat16'])
  parser.add_argument('--accumulation', type=int, default=1)
  parser.add_argument('--ortho_weight', type=float, default=1e-4, help="the config's 1e-4; 0 turns it off")
  parser.add_argument('--peak_tflops', type=float, default=0.0, help='the device peak for MFU; 0 skips MFU')
  args = parser.parse_args()

  config = load_file(os.path.join(ROOT, 'configs', 'biggan_imagenet128.py'))
  config.model.compute_dtype = args.dtype
  config.train.batch_size = args.batch
  config.train.grad_accumulation = args.accumulation
  config.gan.ortho_weight = args.ortho_weight
  game = adversarial.build_game(config, (128, 128, 3))
  generator, discriminator = game.modules['g'], game.modules['d']
  state = jax.jit(functools.partial(init_state, game))(jax.random.key(0))
  z, labels = jnp.zeros((1, 120)), jnp.zeros((1,), jnp.int32)
  images = jnp.zeros((1, 128, 128, 3))
  g_vars = {'params': state.params['g'], **state.collections['g']}
  d_vars = {'params': state.params['d'], **state.collections['d']}
  g_flops = layer_flops(generator, g_vars, z, labels, train=False)
  d_flops = layer_flops(discriminator, d_vars, images, labels, train=False)
  g_xla = cpu_flops(lambda v, z, y: generator.apply(v, z, y, train=False), g_vars, z, labels) or math.nan
  d_xla = cpu_flops(lambda v, x, y: discriminator.apply(v, x, y, train=False), d_vars, images, labels) or math.nan
  print(f'forward GFLOP per image: G {g_flops / 1e9:.2f} (XLA counts {g_xla / 1e9:.2f}), '
        f'D {d_flops / 1e9:.2f} (XLA counts {d_xla / 1e9:.2f})')
  step_flops = 3 * (2 * (g_flops + 2 * d_flops) + (g_flops + d_flops)) * args.batch

  mesh = sharding.make_mesh()
  state = jax.device_put(state, sharding.replicated(mesh))
  step = jit_steps(game, mesh).one
  rng = np.random.default_rng(0)
  batch = jax.device_put({'image': rng.uniform(-1, 1, (2, args.batch, 128, 128, 3)).astype(np.float32),
                          'label': rng.integers(0, 1000, (2, args.batch)).astype(np.int32)},
                         sharding.batch_sharding(mesh))
  start = time.perf_counter()
  state, metrics = step(state, batch, (True, True))
  jax.block_until_ready(metrics)
  compile_s = time.perf_counter() - start
  times = []
  for _ in range(args.steps):
    start = time.perf_counter()
    state, metrics = step(state, batch, (True, True))
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
  seconds = statistics.median(times)
  device = jax.devices()[0]
  if device.platform == 'cpu':
    memory = f'peak host RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB'
  else:
    memory = f"peak device memory {device.memory_stats().get('peak_bytes_in_use', 0) / 2**30:.2f} GiB"
  mfu = f', MFU {step_flops / seconds / (args.peak_tflops * 1e12 * jax.device_count()):.1%}' if args.peak_tflops else ''
  print(f'{device.device_kind} x{jax.device_count()}, batch {args.batch}, {args.dtype}, accumulation '
        f'{args.accumulation}, ortho {args.ortho_weight:g}: first step (compiling) {compile_s:.1f} s, '
        f'{seconds * 1e3:.0f} ms/step '
        f'(median of {args.steps}), {args.batch / seconds:.2f} img/s, ~{step_flops / seconds / 1e9:.0f} '
        f'GFLOP/s{mfu}, {memory}')


if __name__ == '__main__':
  run_with_huge_pages()  # as train.py runs: jgan.host_memory
  main()
