"""Optimisers from config: {'name': 'adam', 'lr': 2e-4, 'b1': 0.5, 'b2': 0.999} and the like."""
from __future__ import annotations

import ml_collections
import optax

from jgan.errors import JganError


def learning_rate(cfg: ml_collections.ConfigDict, total_updates: int) -> float | optax.Schedule:
  """cfg.lr, constant; or, with 0 < cfg.decay_fraction <= 1, constant until that fraction of `total_updates`
  remains and then falling linearly to 0 at the last update (CycleGAN and Pix2Pix: 100 epochs constant, 100
  decaying, fraction 0.5; Zhu et al. 2017, Sec. 7.1). The range of each is checked by jgan.config.validate."""
  fraction = cfg.get('decay_fraction', 0.0)
  if not fraction:
    return cfg.lr
  decay_updates = max(1, round(fraction * total_updates))
  return optax.join_schedules([optax.constant_schedule(cfg.lr), optax.linear_schedule(cfg.lr, 0.0, decay_updates)],
                              [total_updates - decay_updates])


def make_optimizer(cfg: ml_collections.ConfigDict, total_updates: int) -> optax.GradientTransformation:
  """Adam (DCGAN: lr 2e-4, b1 0.5; WGAN-GP: 1e-4, 0.5, 0.9), RMSProp (WGAN: 5e-5) or plain SGD, with the
  learning rate of `learning_rate` over the run's `total_updates` of this optimiser."""
  lr = learning_rate(cfg, total_updates)
  if cfg.name == 'adam':
    return optax.adam(lr, b1=cfg.b1, b2=cfg.b2)
  if cfg.name == 'rmsprop':
    # PyTorch's defaults (alpha 0.99, eps 1e-8), which the WGAN reference code used.
    return optax.rmsprop(lr, decay=0.99, eps=1e-8)
  if cfg.name == 'sgd':
    return optax.sgd(lr, momentum=cfg.b1 or None)
  raise JganError(f"unknown optimizer {cfg.name!r}: use 'adam', 'rmsprop' or 'sgd'")
