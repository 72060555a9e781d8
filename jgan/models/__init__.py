"""Model families, one module each, found by name: `config.model.name = 'dcgan'` is jgan.models.dcgan.

A family module provides:
  DEFAULTS: dict of its model config keys and default values (besides COMMON_DEFAULTS, which every family has).
  check(model_config, image_shape): raises JganError if it cannot generate images of that shape.
  Generator and Discriminator: Flax modules whose fields are named as config keys (plus image_shape);
    called G(z, labels, train=...) -> images in [-1, 1] (Karras et al.'s generators are linear, unbounded, as
    theirs are) and D(images, labels, train=...) -> logits [B].
A family may set GAME, the game it plays (jgan.games; the default 'adversarial' is one G against one D):
'style' (jgan.games.style), 'growing' (jgan.games.growing, whose networks take level and alpha), or for
image-to-image families 'paired' (jgan.games.paired) or 'cycle' (jgan.games.cycle). These take an image where
G takes z, and provide input_multiple(image_shape), the number that G's input sides must be multiples of
(jgan.translate checks the user's images against it).
"""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from types import ModuleType

import flax.linen as nn
import ml_collections

from jgan.errors import JganError

# Keys of every family. compute_dtype: 'bfloat16' computes the networks' layers in bfloat16 (mixed precision on
# GPU/TPU) while the parameters, optimiser state, normalisation statistics, spectral-norm vectors, outputs and
# losses stay float32; 'float32' (the default) suits the CPU, whose XLA backend has no fast bfloat16 kernels.
COMMON_DEFAULTS = {'compute_dtype': 'float32'}
COMPUTE_DTYPES = ('float32', 'bfloat16')


def family_names() -> list[str]:
  return sorted(m.name for m in pkgutil.iter_modules(__path__))


def get_family(name: str) -> ModuleType:
  """Returns the module jgan.models.<name>, or a JganError listing the families there are."""
  if name not in family_names():
    raise JganError(f"unknown model {name!r}: set config.model.name to one of {', '.join(family_names())}")
  return importlib.import_module(f'jgan.models.{name}')


def defaults(name: str) -> dict:
  """The model config keys of family `name` with their default values."""
  return {**COMMON_DEFAULTS, **get_family(name).DEFAULTS}


def model_config(name: str, **overrides) -> ml_collections.ConfigDict:
  """The model section of a config: the family's defaults, with `overrides` applied and checked."""
  keys = defaults(name)
  unknown = sorted(set(overrides) - set(keys))
  if unknown:
    raise JganError(f"unknown key(s) {unknown} for model {name!r}: its keys are {sorted(keys)}")
  return ml_collections.ConfigDict({'name': name, **keys, **overrides})


def build(model_cfg: ml_collections.ConfigDict, image_shape: tuple[int, int, int]) -> tuple[nn.Module, nn.Module]:
  """The family's (generator, discriminator), each given the config keys that it declares as fields."""
  family = get_family(model_cfg.name)
  if model_cfg.compute_dtype not in COMPUTE_DTYPES:
    raise JganError(f"model.compute_dtype must be one of {', '.join(COMPUTE_DTYPES)}, not {model_cfg.compute_dtype!r}")
  family.check(model_cfg, tuple(image_shape))
  values = {**model_cfg.to_dict(), 'image_shape': tuple(image_shape)}

  def make(cls):
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items() if k in names})

  return make(family.Generator), make(family.Discriminator)
