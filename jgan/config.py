"""The config every `configs/*.py` starts from, and the check that names a wrong key in one line.

A config is the common sections (data, optim, train, eval), the model family's section (`model`, its
DEFAULTS in jgan.models.<family>) and the sections of the game that family plays (`gan`, ProGAN's `grow`, and
the keys a game adds to `data` and `eval`: CONFIG in jgan.games.<game>). It holds exactly the keys that run
reads, so a key that would be ignored is an error.
"""
from __future__ import annotations

import importlib
import importlib.util
import math
import os
from collections.abc import Callable

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
      checkpoint_every=500,  # the evaluation runs at every checkpoint; 0: only at the end of the run
      checkpoint_minutes=30.0,  # also save (without evaluating) when this long has passed since the last save,
      # checked at log lines, so that a kill without notice loses at most about that much work; 0: off
      keep_checkpoints=3,
      on_nonfinite='stop',  # a step that makes a NaN or an infinity: 'stop', or 'rewind' to the last checkpoint
      # and skip the batches from there to the bad one (never saved, evaluated or kept as best either way)
      max_rewinds=3,  # with on_nonfinite='rewind': the rewinds a run may make before it stops
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


def _whole(test: Callable[[int], bool]) -> Callable[[object], bool]:
  return lambda v: isinstance(v, int) and not isinstance(v, bool) and test(v)


def _number(test: Callable[[float], bool]) -> Callable[[object], bool]:
  return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and test(v)


# The accepted values of every numeric setting, in one place: (keys, test, the range in words). A game's keys are
# checked where the config has them.
_RANGES = (
    (('train.batch_size', 'train.grad_accumulation', 'train.steps_per_call', 'train.log_every',
      'train.keep_checkpoints', 'train.grid_size', 'data.resolution', 'data.num_threads', 'gan.n_critic',
      'gan.r1_every', 'gan.pl_every', 'gan.pl_batch_shrink'), _whole(lambda v: v >= 1), 'a whole number >= 1'),
    (('train.steps', 'eval.num_samples', 'gan.ema_start', 'gan.pretrain_steps', 'gan.pool_size',
      'grow.stable_images', 'grow.fade_images'), _whole(lambda v: v >= 0), 'a whole number >= 0'),
    (('train.sample_every', 'train.checkpoint_every'), _whole(lambda v: v >= 0),
     'a whole number of steps >= 0 (0: only at the end of the run)'),
    (('train.max_rewinds',), _whole(lambda v: v >= 0), 'a whole number >= 0'),
    (('train.checkpoint_minutes',), _number(lambda v: v >= 0), 'a number of minutes >= 0 (0: off)'),
    (('train.on_nonfinite',), lambda v: v in ('stop', 'rewind'), "'stop' or 'rewind'"),
    (('data.load_size',), _whole(lambda v: v >= -1), 'a whole number >= -1 (-1: crops at the images\' own size)'),
    (('data.channels',), lambda v: v in (1, 3), '1 (grey) or 3 (RGB)'),
    (('optim.g.lr', 'optim.d.lr'), _number(lambda v: v > 0), 'a number > 0'),
    (('optim.g.b1', 'optim.g.b2', 'optim.d.b1', 'optim.d.b2', 'gan.ema_decay', 'gan.w_avg_decay'),
     _number(lambda v: 0 <= v < 1), 'a number in [0, 1)'),
    (('optim.g.decay_fraction', 'optim.d.decay_fraction', 'gan.style_mixing', 'gan.pl_decay'),
     _number(lambda v: 0 <= v <= 1), 'a number in [0, 1]'),
    (('gan.gp_weight', 'gan.weight_clip', 'gan.ortho_weight', 'gan.content_weight', 'gan.adversarial_weight',
      'gan.cycle_weight', 'gan.identity_weight', 'gan.r1_gamma', 'gan.pl_weight', 'gan.drift_weight'),
     _number(lambda v: v >= 0), 'a number >= 0 (0: off)'),
    (('gan.z_distribution',), lambda v: v in ('normal', 'uniform'), "'normal' or 'uniform'"),
    (('grow.batch_sizes',), lambda v: all(_whole(lambda b: b >= 1)(b) for b in v), 'whole numbers >= 1, one per level'),
    (('grow.lr_scales',), lambda v: all(_number(lambda s: s > 0)(s) for s in v), 'numbers > 0, one per level'),
)


def _check_ranges(config: ml_collections.ConfigDict) -> None:
  values = _flat_keys(config)
  for keys, test, words in _RANGES:
    for key in keys:
      if key in values and not test(values[key]):
        raise JganError(f'config key {key!r} is {values[key]!r}; it must be {words}: fix the config file or the '
                        f'--config override')


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises a one-line JganError for a key that the config's model and game do not read, or a value out of its
  range (naming the key, its value and the range)."""
  known = _flat_keys(base_config(config.model.name))
  for key in _flat_keys(config):
    if key not in known:
      raise unknown_key_error(key, base_config(config.model.name))
  keys = models.defaults(config.model.name)
  unknown = sorted(set(config.model) - {'name'} - set(keys))
  if unknown:
    raise JganError(f"unknown config key 'model.{unknown[0]}' for model {config.model.name!r}; its keys "
                    f"are {', '.join(sorted(keys))}: fix the config file or the --config override")
  _check_ranges(config)
