"""A training run as the tools see it: its config, its game, and its state at a checkpoint."""
from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Callable

import jax
import ml_collections
import numpy as np

from jgan import adversarial, cycle, growing, models, paired, sharding, style
from jgan import config as config_lib
from jgan.checkpoint import Checkpointer
from jgan.engine import Game, TrainState, init_state
from jgan.errors import JganError


def image_shape(config: ml_collections.ConfigDict) -> tuple[int, int, int]:
  return (config.data.resolution, config.data.resolution, config.data.channels)


# What a model family plays, by its GAME attribute: one G against one D (the default), a paired
# image-to-image game (Pix2Pix, SRGAN), CycleGAN's two G/D pairs, StyleGAN's lazily regularised game, or
# ProGAN's growing one.
GAME_BUILDERS = {'adversarial': adversarial.build_game, 'paired': paired.build_game, 'cycle': cycle.build_game,
                 'style': style.build_game, 'growing': growing.build_game}


def build_game(config: ml_collections.ConfigDict) -> Game:
  """The game of config.model's family, on images of the config's shape."""
  family = models.get_family(config.model.name)
  return GAME_BUILDERS[getattr(family, 'GAME', 'adversarial')](config, image_shape(config))


def initial_state(game: Game, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh) -> TrainState:
  """A freshly initialised state, replicated over `mesh` (also the target a checkpoint restores onto)."""
  init = jax.jit(functools.partial(init_state, game), out_shardings=sharding.replicated(mesh))
  return init(jax.random.key(config.seed))


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
    saved = json.load(f)
  # Over today's defaults, so that a run saved before a config key existed still loads.
  config = config_lib.base_config(saved.get('model', {}).get('name', 'dcgan'))
  config.update(saved)
  game = build_game(config)
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
    state, _ = checkpointer.restore(step, initial_state(game, config, mesh or sharding.make_mesh()))
  finally:
    checkpointer.close()
  return Run(config, game, state, step)


def class_rows(num_classes: int, count: int, columns: int) -> np.ndarray | None:
  """Labels for a grid of `count` samples in rows of `columns`: one class per row, cycling through the
  classes; None for an unconditional model (num_classes 0)."""
  if not num_classes:
    return None
  return ((np.arange(count) // columns) % num_classes).astype(np.int32)


def load_tool_run(workdir: str | None, step: int | None, inception_weights: str | None = None,
                  image_to_image: bool = False) -> Run:
  """The run that a tool (jgan.evaluate, jgan.sample, jgan.truncation; jgan.translate with `image_to_image`)
  names by --workdir and --step, with --inception_weights, if given, in its config.

  Raises:
    JganError: no run there, or a run of the other kind (image-to-image for a sampling tool, or back).
  """
  if not workdir:
    raise JganError('pass --workdir=DIR, the directory train.py wrote')
  run = load_run(workdir, step)
  model = run.config.model.name
  if run.game.translations and not image_to_image:
    raise JganError(f'{workdir} holds a {model} run, which translates images rather than sampling them: use '
                    f'python -m jgan.translate --workdir={workdir} --input=IMAGES --output=DIR')
  if image_to_image and not run.game.translations:
    raise JganError(f'{workdir} holds a {model} run, which samples from latents rather than translating '
                    f'images: use python -m jgan.sample --workdir={workdir}')
  if inception_weights:
    run.config.eval.inception_weights = inception_weights
  return run


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
