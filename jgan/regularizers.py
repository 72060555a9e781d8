"""Discriminator regularisers: the WGAN-GP gradient penalty and WGAN weight clipping."""
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
