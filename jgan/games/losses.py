"""Adversarial losses, all with one signature (as compare_gan does).

Every loss is a pair: `d(real_logits, fake_logits)` and `g(fake_logits)`, each returning a scalar to
minimise. Logits are the discriminator's raw outputs, D(x) = sigmoid(logit) for the probabilistic losses.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jgan.errors import JganError


class AdversarialLoss(NamedTuple):
  d: Callable[[jax.Array, jax.Array], jax.Array]
  g: Callable[[jax.Array], jax.Array]


def _minimax_d(real: jax.Array, fake: jax.Array) -> jax.Array:
  # Goodfellow et al. 2014, eq. 1: D maximises log D(x) + log(1 - D(G(z))); -log sigmoid(t) = softplus(-t).
  return jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))


def _minimax_g(fake: jax.Array) -> jax.Array:
  # Eq. 1 for G: minimise log(1 - D(G(z))) = -softplus(logit). Saturates when D rejects samples early on.
  return -jnp.mean(jax.nn.softplus(fake))


def _non_saturating_g(fake: jax.Array) -> jax.Array:
  # Goodfellow et al. 2014, Sec. 3: maximise log D(G(z)) instead, for strong early gradients.
  return jnp.mean(jax.nn.softplus(-fake))


def _wasserstein_d(real: jax.Array, fake: jax.Array) -> jax.Array:
  # Arjovsky et al. 2017, eq. 3: the critic maximises E[f(x)] - E[f(G(z))].
  return jnp.mean(fake) - jnp.mean(real)


def _wasserstein_g(fake: jax.Array) -> jax.Array:
  return -jnp.mean(fake)


def _hinge_d(real: jax.Array, fake: jax.Array) -> jax.Array:
  # Lim & Ye 2017; Miyato et al. 2018, eq. 16.
  return jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake))


def _least_squares_d(real: jax.Array, fake: jax.Array) -> jax.Array:
  # Mao et al. 2017, eq. 2 with a = 0, b = 1.
  return 0.5 * jnp.mean((real - 1.0) ** 2) + 0.5 * jnp.mean(fake**2)


def _least_squares_g(fake: jax.Array) -> jax.Array:
  # Mao et al. 2017, eq. 2 with c = 1.
  return 0.5 * jnp.mean((fake - 1.0) ** 2)


LOSSES: dict[str, AdversarialLoss] = {
    'minimax': AdversarialLoss(_minimax_d, _minimax_g),
    'non_saturating': AdversarialLoss(_minimax_d, _non_saturating_g),
    'wasserstein': AdversarialLoss(_wasserstein_d, _wasserstein_g),
    'hinge': AdversarialLoss(_hinge_d, _wasserstein_g),
    'least_squares': AdversarialLoss(_least_squares_d, _least_squares_g),
}


def get_loss(name: str) -> AdversarialLoss:
  """Returns the adversarial loss called `name`, or a JganError listing the known ones."""
  if name not in LOSSES:
    raise JganError(f"unknown loss {name!r}: set config.gan.loss to one of {', '.join(sorted(LOSSES))}")
  return LOSSES[name]
