"""Regularisers: the WGAN-GP gradient penalty, WGAN weight clipping and BigGAN's orthogonal regularisation."""
from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp


def gradient_penalty(critic: Callable[[jax.Array], jax.Array], real: jax.Array, fake: jax.Array,
                     rng: jax.Array) -> jax.Array:
  """Gulrajani et al. 2017, eq. 3: E[(||grad_x D(x_hat)||_2 - 1)^2] on random interpolates x_hat.

  Args:
    critic: maps a batch of images to one logit per image, with no interaction between batch
      elements (no BatchNorm), so that the gradient of the summed logits is the per-example gradient.
    real: real images [B, ...].
    fake: generated images [B, ...] (gradients are not taken through them).
    rng: key for the interpolation weights.
  Returns:
    The scalar penalty, to be multiplied by lambda (10 in the paper).
  """
  eps = jax.random.uniform(rng, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
  x_hat = eps * real + (1.0 - eps) * jax.lax.stop_gradient(fake)
  grads = jax.grad(lambda x: jnp.sum(critic(x)))(x_hat)
  norms = jnp.sqrt(jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, axis=1) + 1e-12)
  return jnp.mean((norms - 1.0) ** 2)


def clip_weights(params, clip: float):
  """Arjovsky et al. 2017, Algorithm 1, line 7: clip every critic parameter to [-c, c]."""
  return jax.tree.map(lambda p: jnp.clip(p, -clip, clip), params)


def orthogonal_penalty(params, exclude: tuple[str, ...] = ()) -> jax.Array:
  """BigGAN's orthogonal regularisation (Brock et al. 2019, eq. 3, without the beta): the sum over weight
  matrices W (every parameter of rank >= 2, reshaped to [fan-in, filters]) of ||W^T W * (1 - I)||_F^2, which
  pushes filters towards orthogonality without constraining their norms.

  Args:
    params: a parameter pytree.
    exclude: parameters whose path contains one of these names are skipped (BigGAN skips the shared
      class embedding).
  """
  total = jnp.zeros((), jnp.float32)
  for path, weight in jax.tree_util.tree_leaves_with_path(params):
    names = [getattr(key, 'key', str(key)) for key in path]
    if weight.ndim < 2 or any(name in exclude for name in names):
      continue
    w = weight.reshape(-1, weight.shape[-1]).astype(jnp.float32)
    fan_in, filters = w.shape
    if filters <= fan_in:
      gram = w.T @ w
      total = total + jnp.sum((gram * (1.0 - jnp.eye(filters))) ** 2)
    else:
      # More filters than inputs (G's first linear layer: 20 x 24,576 at 128x128): ||W^T W||_F^2 equals
      # ||W W^T||_F^2, so the smaller Gram matrix gives the same sum without a filters x filters matrix.
      squared_norms = jnp.sum(w * w, axis=0)
      total = total + jnp.sum((w @ w.T) ** 2) - jnp.sum(squared_norms ** 2)
  return total
