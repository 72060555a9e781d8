"""What every game does with its players: apply a network as a pure function, and name a sub-batch's keys."""
from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from jgan.errors import JganError


def apply_module(module: nn.Module, params, collections: dict, x: jax.Array, labels, train: bool,
                 rng: jax.Array | None = None) -> tuple[jax.Array, dict]:
  """Applies a module as a pure function; in training it returns its updated mutable collections."""
  variables = {'params': params, **collections}
  if not train:
    return module.apply(variables, x, labels, train=False), collections
  rngs = {'dropout': rng} if rng is not None else None
  if not collections:
    return module.apply(variables, x, labels, train=True, rngs=rngs), collections
  out, updated = module.apply(variables, x, labels, train=True, rngs=rngs, mutable=list(collections))
  return out, dict(updated)


def named_keys(rng: jax.Array, names: Sequence[str]) -> dict[str, jax.Array]:
  """One key per purpose from a sub-batch's key, {name: fold_in(rng, position)}: the phases that name a purpose
  alike draw the same numbers for it (the D and G phases' latents, so that G's forward pass is shared)."""
  return {name: jax.random.fold_in(rng, i) for i, name in enumerate(names)}


def no_latents(model: str):
  """The `sample_inputs` of an image-to-image game, which has no latents: a one-line error."""
  def sample_inputs(rng, n, labels=None, truncate=None):
    raise JganError(f'model {model!r} translates images and has no latents to sample: use '
                    f'python -m jgan.translate --workdir=... --input=IMAGES --output=DIR')
  return sample_inputs
