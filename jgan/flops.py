"""XLA's FLOP count of a function, from its compilation for one CPU device.

A GPU compilation hands convolutions to cuDNN as custom calls, which XLA's cost analysis does not count: on an
H100 it gave BigGAN-128's generator 1.5 of its 42 GFLOP per image. The CPU backend keeps them as HLO
convolutions, so jgan.plan (for GPUs) and benchmarks/biggan.py count there.
"""
from __future__ import annotations

from collections.abc import Callable

import jax


def compiled_flops(compiled: jax.stages.Compiled) -> float | None:
  """XLA's cost analysis of a compiled function: its FLOPs, or None where the backend gives none."""
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  return float(cost['flops']) if cost and 'flops' in cost else None


def cpu_flops(fn: Callable, *args) -> float | None:
  """The FLOPs of fn(*args) (arrays or abstract ones, on any device) as XLA counts them compiled for a CPU."""
  cpu = jax.sharding.SingleDeviceSharding(jax.devices('cpu')[0])
  shapes = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), args)
  return compiled_flops(jax.jit(fn, in_shardings=cpu, out_shardings=cpu).lower(*shapes).compile())
