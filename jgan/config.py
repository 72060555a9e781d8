"""The config every `configs/*.py` starts from, and the check that names a wrong key in one line.

A config is the common sections (data, optim, train, eval), the model family's section (`model`, its
DEFAULTS in jgan.models.<family>) and the sections of the game that family plays (`gan`, ProGAN's `grow`, and
the keys a game adds to `data` and `eval`: CONFIG in jgan.games.<game>). It holds exactly the keys that run
reads, so a key that would be ignored is an error.
"""
from __future__ import annotations

import importlib
import importlib.util
import os

import ml_collections

from jgan import games, models
from jgan.errors import JganError


def base_config(model: str = 'dcgan', **model_overrides) -> ml_collections.ConfigDict:
  """Every key a training config of model family `model` (jgan.models.<model>) may set, with defaults."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.data = dict(
      name='digits',  # 'digits' (bundled, offline), 'folder' (your images), 'photos' or a TFDS name ('mnist')
      split='train',
      resolution=32,
      channels=1,
      data_dir='',  # TFDS data_dir; '' means TFDS's default (~/tensorflow_datasets)
      folder='',  # with name='folder': a directory of images, one subdirectory per class if labelled
      image_key='image',
      label_key='label',  # '' for unlabelled TFDS datasets
      num_threads=2,  # host threads decoding and resizing images
      mirror=False,  # flip each image left-right (both images of a pair alike) with probability 1/2
  )
  c.model = models.model_config(model, **model_overrides)
  # decay_fraction > 0: the rate falls linearly to 0 over that last share of train.steps (CycleGAN: 0.5)
  c.optim = dict(
      g=dict(name='adam', lr=2e-4, b1=0.5, b2=0.999, decay_fraction=0.0),
      d=dict(name='adam', lr=2e-4, b1=0.5, b2=0.999, decay_fraction=0.0),
  )
  c.train = dict(
      steps=2000,  # generator updates
      batch_size=64,  # global batch, split over all devices
      grad_accumulation=1,  # split each batch into this many micro-batches and average their gradients
      # Iterations per compiled call (lax.scan): fewer host dispatches on a GPU/TPU. Leave 1 on the CPU, whose
      # XLA backend runs convolutions inside a loop many times slower. Calls stop at logs, samples and checkpoints.
      steps_per_call=1,
      log_every=50,
      sample_every=250,
      checkpoint_every=500,  # the evaluation runs at every checkpoint
      keep_checkpoints=3,
      grid_size=8,  # samples form a grid_size x grid_size PNG
  )
  c.eval = dict(
      num_samples=1000,  # generated images per evaluation (at every checkpoint); 0 turns evaluation off
      best_metric='fd',  # the checkpoint with the best value is kept in <workdir>/best
  )
  for section, keys in games.game_module(model).CONFIG.items():
    if section in c:
      c[section].update(keys)
    else:
      c[section] = dict(keys)
  return c


def load_file(path: str) -> ml_collections.ConfigDict:
  """The config of a `configs/*.py` file (its get_config()), as train.py --config reads it.

  Raises:
    JganError: no such file, or one without get_config().
  """
  if not os.path.isfile(path):
    raise JganError(f'no config file {path!r}: pass one of configs/*.py')
  spec = importlib.util.spec_from_file_location('jgan_config_file', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, 'get_config'):
    raise JganError(f'{path} defines no get_config(): a config file returns its ConfigDict from get_config()')
  return module.get_config()


def from_saved(saved: dict) -> ml_collections.ConfigDict:
  """The config of a run from its config.json: today's base config of its model, with the saved values of the
  keys it has. Keys that no longer exist (a run saved when the config held every game's keys) are dropped."""
  config = base_config(saved.get('model', {}).get('name', 'dcgan'))

  def merge(target: ml_collections.ConfigDict, values: dict) -> None:
    for key, value in values.items():
      if key in target and isinstance(target[key], ml_collections.ConfigDict):
        merge(target[key], value)
      elif key in target:
        target[key] = value

  merge(config, saved)
  return config


def _flat_keys(config: ml_collections.ConfigDict, prefix: str = '') -> dict[str, object]:
  keys = {}
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict) and key != 'model':
      keys.update(_flat_keys(value, f'{prefix}{key}.'))
    else:
      keys[f'{prefix}{key}'] = value
  return keys


def _games_reading(key: str) -> list[str]:
  """The games whose sections hold `key` ('gan.loss', 'data.split_b', ...)."""
  section, _, name = key.partition('.')
  return [game for game in games.GAMES
          if name in importlib.import_module(f'jgan.games.{game}').CONFIG.get(section, {})]


def unknown_key_error(key: str, config: ml_collections.ConfigDict) -> JganError:
  """The one-line error for `key` (dotted, 'gan.loss'), which `config` does not have: a key of another game's
  section names the game in play and the games that read it; any other key, its section's keys."""
  model = config.model.name
  game = games.game_name(model)
  section = key.rpartition('.')[0]
  siblings = ', '.join(sorted(k.rpartition('.')[2] for k in _flat_keys(config) if k.rpartition('.')[0] == section))
  readers = _games_reading(key)
  if readers:
    return JganError(f"config key {key!r} is not read by model {model!r}, which plays the {game} game "
                     f"(jgan.games.{game}); it belongs to the {', '.join(readers)} game(s). The {game} game's "
                     f"keys under {section!r} are {siblings or 'none'}: remove it from the config file or the "
                     f"--config override")
  return JganError(f"unknown config key {key!r}; keys under {section or 'the top level'!r} are {siblings}: fix "
                   f"the config file or the --config override")


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises a one-line JganError for a key that the config's model and game do not read, or a bad size."""
  known = _flat_keys(base_config(config.model.name))
  for key in _flat_keys(config):
    if key not in known:
      raise unknown_key_error(key, base_config(config.model.name))
  keys = models.defaults(config.model.name)
  unknown = sorted(set(config.model) - {'name'} - set(keys))
  if unknown:
    raise JganError(f"unknown config key 'model.{unknown[0]}' for model {config.model.name!r}; its keys "
                    f"are {', '.join(sorted(keys))}: fix the config file or the --config override")
  if config.train.batch_size < 1 or config.train.steps < 0 or config.train.steps_per_call < 1:
    raise JganError('train.batch_size and train.steps_per_call must be >= 1 and train.steps >= 0')
