"""Latents, as the games draw them and the tools walk them: truncation (Brock et al. 2019, Sec. 3.1),
interpolation, and the class labels of a grid.

Truncation samples z closer to the mode for fidelity at the cost of variety, in two forms:
  'resample': every component of z whose magnitude exceeds the threshold is resampled (the paper's form),
    i.e. z follows a normal distribution truncated to [-threshold, threshold] component-wise;
  'norm': z is rescaled onto the sphere of radius tau when its norm exceeds tau (norm clipping).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jgan.errors import JganError

TRUNCATION_FORMS = ('resample', 'norm')

# The config.eval keys of the games that sample from latents: the feature space their samples are measured in
# ('digits' or 'inception'; '' picks 'inception' given its weights, 'digits' on the digits) and the converted
# FID Inception weights (python -m jgan.metrics.inception --convert).
SAMPLING_EVAL = {'features': '', 'inception_weights': ''}


def truncated_latents(rng: jax.Array, shape: tuple[int, ...], threshold: float, form: str = 'resample') -> jax.Array:
  """Standard normal latents of `shape` [N, D], truncated by `form` at `threshold`.

  Raises:
    JganError: an unknown form.
  """
  if form == 'resample':
    # Resampling the out-of-range components until they fall inside draws exactly from the truncated
    # normal, which jax.random samples directly (inverse CDF): no loop of rejections.
    return jax.random.truncated_normal(rng, -threshold, threshold, shape)
  if form == 'norm':
    z = jax.random.normal(rng, shape)
    norms = jnp.linalg.norm(z, axis=-1, keepdims=True)
    return z * jnp.minimum(1.0, threshold / jnp.maximum(norms, 1e-12))
  raise JganError(f"unknown truncation form {form!r}: use one of {', '.join(TRUNCATION_FORMS)}")


def lerp(z0: jax.Array, z1: jax.Array, t: jax.Array) -> jax.Array:
  """Straight-line interpolation; t [T] -> [T, ...]."""
  t = t.reshape(-1, *([1] * z0.ndim))
  return (1.0 - t) * z0 + t * z1


def slerp(z0: jax.Array, z1: jax.Array, t: jax.Array) -> jax.Array:
  """Spherical interpolation (Shoemake 1985; White 2016 for GAN latents): stays near the shell where most
  of a Gaussian's mass lies, unlike lerp whose midpoints have a smaller norm."""
  cos = jnp.sum(z0 * z1) / (jnp.linalg.norm(z0) * jnp.linalg.norm(z1))
  omega = jnp.arccos(jnp.clip(cos, -1.0, 1.0))
  t = t.reshape(-1, *([1] * z0.ndim))
  safe = jnp.maximum(jnp.sin(omega), 1e-7)
  spherical = (jnp.sin((1.0 - t) * omega) * z0 + jnp.sin(t * omega) * z1) / safe
  return jnp.where(omega < 1e-4, lerp(z0, z1, t), spherical)  # Parallel latents: nothing to bend.


def class_rows(num_classes: int, count: int, columns: int) -> np.ndarray | None:
  """Labels for a grid of `count` samples in rows of `columns`: one class per row, cycling through the
  classes; None for an unconditional model (num_classes 0)."""
  if not num_classes:
    return None
  return ((np.arange(count) // columns) % num_classes).astype(np.int32)
