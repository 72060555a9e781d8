"""Data parallelism: one mesh axis 'data' over every device of every process."""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def make_mesh(devices: list | None = None) -> Mesh:
  """A 1-D mesh named 'data' over `devices` (all devices of all processes by default)."""
  return Mesh(np.array(devices if devices is not None else jax.devices()), ('data',))


def replicated(mesh: Mesh) -> NamedSharding:
  """Parameters, optimiser states and collections: a full copy on every device."""
  return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Batches [sub_batches, batch, ...]: the batch axis split over 'data'. BatchNorm means over that axis
  are then global means, computed by XLA's collectives."""
  return NamedSharding(mesh, PartitionSpec(None, 'data'))
