"""A run's generator as the training loop and the tools use it: a run loaded from its workdir, samples and
translations from its state, and the monitors that draw and measure it at the loop's intervals."""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable

import jax
import ml_collections
import numpy as np
from absl import flags

from jgan import config as config_lib
from jgan import games, sharding
from jgan.checkpoint import Checkpointer
from jgan.data import pairs
from jgan.engine import Game, TrainState, abstract_state
from jgan.errors import JganError
from jgan.games.latents import class_rows
from jgan.metrics import image_quality
from jgan.metrics.features import feature_extractor, feature_metrics, feature_space, real_features


@dataclasses.dataclass
class Run:
  config: ml_collections.ConfigDict
  game: Game
  state: TrainState
  step: int


def load_run(workdir: str, step: int | None = None, mesh: jax.sharding.Mesh | None = None) -> Run:
  """The run in `workdir` at checkpoint `step` (the latest by default).

  Raises:
    JganError: no run or no such checkpoint there, or an unreadable one.
  """
  config_path = os.path.join(workdir, 'config.json')
  if not os.path.exists(config_path):
    raise JganError(f'no training run in --workdir={workdir!r} (no config.json): train one with '
                    f'python train.py --config=configs/NAME.py --workdir={workdir}')
  with open(config_path) as f:
    config = config_lib.from_saved(json.load(f))
  game = games.build_game(config)
  checkpointer = Checkpointer(workdir, config.train.keep_checkpoints)
  try:
    available = checkpointer.all_steps()
    if not available:
      raise JganError(f'no checkpoint in {checkpointer.directory}: train longer than train.checkpoint_every '
                      f'steps, or resume the run to write one')
    step = available[-1] if step is None else step
    if step not in available:
      raise JganError(f'no checkpoint {step} in {checkpointer.directory}: it has steps '
                      f'{", ".join(map(str, available))}')
    state, _ = checkpointer.restore(step, abstract_state(game, mesh or sharding.make_mesh()))
  finally:
    checkpointer.close()
  return Run(config, game, state, step)


def define_run_flags(out: str) -> None:
  """Defines --workdir, --step and --out, the flags of every tool that reads a run; `out` says where --out
  defaults to."""
  flags.DEFINE_string('workdir', None, 'The directory train.py wrote.')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
  flags.DEFINE_string('out', None, f'Output directory (default: {out}).')


def load_tool_run(workdir: str | None, step: int | None, inception_weights: str | None = None,
                  image_to_image: bool = False, style: bool = False) -> Run:
  """The run that a tool names by --workdir and --step, with --inception_weights, if given, in its config.
  Sampling tools take runs with latents; jgan.translate (`image_to_image`) image-to-image runs; jgan.w_space
  (`style`) runs of the style game. The kind is checked from config.json, before the checkpoint is read.

  Raises:
    JganError: no run there, or a run of another kind.
  """
  if not workdir:
    raise JganError('pass --workdir=DIR, the directory train.py wrote')
  config_path = os.path.join(workdir, 'config.json')
  if os.path.exists(config_path):
    with open(config_path) as f:
      model = json.load(f).get('model', {}).get('name', 'dcgan')
    _check_kind(workdir, model, games.game_name(model), image_to_image, style)
  run = load_run(workdir, step)
  if inception_weights:
    run.config.eval.inception_weights = inception_weights
  return run


def _check_kind(workdir: str, model: str, game: str, image_to_image: bool, style: bool) -> None:
  translates = game in ('paired', 'cycle')
  if translates and not image_to_image:
    raise JganError(f'{workdir} holds a {model} run, which translates images rather than sampling them: use '
                    f'python -m jgan.translate --workdir={workdir} --input=IMAGES --output=DIR')
  if image_to_image and not translates:
    raise JganError(f'{workdir} holds a {model} run, which samples from latents rather than translating '
                    f'images: use python -m jgan.sample --workdir={workdir}')
  if style and game != 'style':
    raise JganError(f'model {model!r} has no W space: the W-space tools take a stylegan or stylegan2 run '
                    f'(python -m jgan.sample draws the others)')


def sample_images(sample: Callable, state: TrainState, inputs: dict, batch_size: int = 500) -> np.ndarray:
  """Images for `inputs` from the sampling (EMA) parameters, in batches of at most `batch_size`.

  Args:
    sample: the jitted `game.sample`.
    state: the training state.
    inputs: what `game.sample_inputs` returns.
    batch_size: the most images computed at once.
  """
  n = len(next(iter(inputs.values())))
  chunks = [sample(state.sampling_params(), state.collections, jax.tree.map(lambda x, i=i: x[i:i + batch_size],
                                                                               inputs))
            for i in range(0, n, batch_size)]
  return np.concatenate([np.asarray(c) for c in chunks])


def generate(run: Run, num_samples: int, seed: int) -> np.ndarray:
  """`num_samples` images from the run's sampling (EMA) parameters."""
  inputs = run.game.sample_inputs(jax.random.key(seed), num_samples)
  return sample_images(jax.jit(run.game.sample), run.state, inputs)


def translator(game: Game, direction: str = 'AtoB') -> Callable[[TrainState, jax.Array], jax.Array]:
  """A jitted (state, images) -> translated images, with the generator of `direction` in inference mode.

  Raises:
    JganError: the game does not translate that way.
  """
  if direction not in game.translations:
    raise JganError(f"this run translates {' and '.join(game.translations) or 'nothing'}, not {direction!r}: "
                    f'pass --direction={next(iter(game.translations), "AtoB")}')
  player = game.translations[direction]
  module = game.modules[player]

  @jax.jit
  def apply(state: TrainState, images: jax.Array) -> jax.Array:
    params = state.sampling_params()[player]
    return module.apply({'params': params, **state.collections[player]}, images, None, train=False)

  return apply


class GenerationMonitor:
  """Grids of samples from fixed latents (one class per row for conditional models) and feature-space
  metrics of samples from other fixed latents against cached real statistics."""

  def __init__(self, config: ml_collections.ConfigDict, game: Game):
    self._game, self._sample = game, jax.jit(game.sample)
    grid = config.train.grid_size
    self._columns = grid
    self._grid_inputs = game.sample_inputs(jax.random.key(config.seed + 1), grid * grid,
                                           class_rows(game.num_classes, grid * grid, grid))
    self._eval_rng = jax.random.key(config.seed + 2)  # The same latents at every evaluation.
    self.features = feature_space(config)
    self.label = f'{self.features} features'
    self.evaluates = bool(self.features) and config.eval.num_samples > 0
    if self.evaluates:
      self._extractor = feature_extractor(self.features, config.eval.inception_weights)
      self._real, _ = real_features(self._extractor, self.features, config, config.data.split,
                                    config.eval.num_samples)
      self._num_samples = config.eval.num_samples

  def grid(self, state: TrainState) -> tuple[np.ndarray, int]:
    """The grid's images, row by row, and its number of columns."""
    return sample_images(self._sample, state, self._grid_inputs), self._columns

  def __call__(self, state: TrainState) -> dict[str, float]:
    fake = sample_images(self._sample, state, self._game.sample_inputs(self._eval_rng, self._num_samples))
    return feature_metrics(self._real, *self._extractor.features_and_probs(fake))


def _batches(apply, state: TrainState, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
  return np.concatenate([np.asarray(apply(state, images[i:i + batch_size]))
                         for i in range(0, len(images), batch_size)])


def _as_tile(images: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
  """Images shown beside outputs of `shape` [H, W, C]: upsampled by pixel repetition, grey made RGB."""
  factor = shape[0] // images.shape[1]
  images = images.repeat(factor, axis=1).repeat(factor, axis=2)
  return np.broadcast_to(images, (*images.shape[:3], shape[-1])) if images.shape[-1] != shape[-1] else images


class TranslationMonitor:
  """Grids of held-out examples (input | output | target; for unpaired runs a | G(a) | F(G(a)) | b | F(b) |
  G(F(b))) and held-out metrics: L1, MSE, PSNR and SSIM against the targets, or the cycle reconstruction
  error for unpaired runs, where there are no targets."""

  features, label = 'held_out', 'held-out examples'

  def __init__(self, config: ml_collections.ConfigDict, game: Game):
    self._game = game
    count = max(config.train.grid_size, config.eval.num_samples)
    examples = pairs.held_out_examples(config.data, game.unpaired, count, game.input_shape, seed=config.seed)
    self._grid_examples = {k: v[:config.train.grid_size] for k, v in examples.items()}
    self._eval_examples = examples if config.eval.num_samples > 0 else None
    self._forward = {direction: translator(game, direction) for direction in game.translations}
    self._baseline = {}
    if self._eval_examples is not None and not game.unpaired and 'scale' in config.model:
      upsampled = jax.image.resize(examples['input'], examples['target'].shape, 'bicubic')
      self._baseline = {f'bicubic_{k}': v for k, v in image_quality.compare(np.clip(upsampled, -1, 1),
                                                                             examples['target']).items()}

  def grid(self, state: TrainState) -> tuple[np.ndarray, int]:
    """The grid's images, row by row, and its number of columns."""
    ex = self._grid_examples
    if self._game.unpaired:
      ab, ba = self._forward['AtoB'], self._forward['BtoA']
      fake_b, fake_a = _batches(ab, state, ex['a']), _batches(ba, state, ex['b'])
      columns = [ex['a'], fake_b, _batches(ba, state, fake_b), ex['b'], fake_a, _batches(ab, state, fake_a)]
    else:
      output = _batches(self._forward['AtoB'], state, ex['input'])
      columns = [_as_tile(ex['input'], output.shape[1:]), output, ex['target']]
    return np.stack(columns, axis=1).reshape(-1, *columns[1].shape[1:]), len(columns)

  def __call__(self, state: TrainState) -> dict[str, float]:
    ex = self._eval_examples
    if self._game.unpaired:
      ab, ba = self._forward['AtoB'], self._forward['BtoA']
      cycle_a = np.mean(np.abs(_batches(ba, state, _batches(ab, state, ex['a'])) - ex['a']))
      cycle_b = np.mean(np.abs(_batches(ab, state, _batches(ba, state, ex['b'])) - ex['b']))
      return {'cycle_l1_a': float(cycle_a), 'cycle_l1_b': float(cycle_b), 'cycle_l1': float(cycle_a + cycle_b) / 2}
    output = _batches(self._forward['AtoB'], state, ex['input'])
    return {**image_quality.compare(output, ex['target']), **self._baseline}

  @property
  def evaluates(self) -> bool:
    return self._eval_examples is not None


def monitor(config: ml_collections.ConfigDict, game: Game) -> GenerationMonitor | TranslationMonitor:
  """The monitor of `game`: translation grids and metrics for image-to-image games, else generation ones."""
  return TranslationMonitor(config, game) if game.translations else GenerationMonitor(config, game)
