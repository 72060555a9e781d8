"""Optimisers from config: {'name': 'adam', 'lr': 2e-4, 'b1': 0.5, 'b2': 0.999} and the like."""
from __future__ import annotations

import ml_collections
import optax

from jgan.errors import JganError


def make_optimizer(cfg: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """Adam (DCGAN: lr 2e-4, b1 0.5; WGAN-GP: 1e-4, 0.5, 0.9), RMSProp (WGAN: 5e-5) or plain SGD."""
  if cfg.name == 'adam':
    return optax.adam(cfg.lr, b1=cfg.b1, b2=cfg.b2)
  if cfg.name == 'rmsprop':
    # PyTorch's defaults (alpha 0.99, eps 1e-8), which the WGAN reference code used.
    return optax.rmsprop(cfg.lr, decay=0.99, eps=1e-8)
  if cfg.name == 'sgd':
    return optax.sgd(cfg.lr, momentum=cfg.b1 or None)
  raise JganError(f"unknown optimizer {cfg.name!r}: use 'adam', 'rmsprop' or 'sgd'")
