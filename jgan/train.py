"""The training loop behind train.py: restore or initialise, step, log, sample, evaluate, checkpoint."""
from __future__ import annotations

import functools
import os
import signal
import time

import jax
import ml_collections
import numpy as np

from jgan import config as config_lib
from jgan import runs, sharding, translate
from jgan.checkpoint import BestCheckpoint, Checkpointer
from jgan.data import pairs, pipeline
from jgan.engine import Game, Stage, TrainState, train_step, train_steps
from jgan.errors import JganError
from jgan.images import save_grid
from jgan.writer import MetricWriter


class _StopRequest:
  """Turns the first SIGINT/SIGTERM into a flag the loop checks after each step; a second SIGINT aborts."""

  def __init__(self):
    self.signal_name = None
    self._previous = {}

  def __enter__(self):
    for sig in (signal.SIGINT, signal.SIGTERM):
      self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    if self.signal_name is not None and signum == signal.SIGINT:
      raise KeyboardInterrupt
    self.signal_name = signal.Signals(signum).name
    print(f'\n{self.signal_name} received: finishing this step and saving a checkpoint '
          f'(Ctrl-C again to abort without saving)', flush=True)

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


def _check_workdir(workdir: str) -> None:
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, f'.write_test.{os.getpid()}')  # one per process: hosts may share the workdir
    with open(probe, 'w') as f:
      f.write('ok')
    os.remove(probe)
  except OSError as error:
    raise JganError(f'cannot write to --workdir={workdir!r} ({error.strerror}): choose a writable directory') \
        from None


class _GenerationMonitor:
  """Grids of samples from fixed latents (one class per row for conditional models) and feature-space
  metrics of samples from other fixed latents against cached real statistics."""

  def __init__(self, config: ml_collections.ConfigDict, game: Game):
    self._game, self._sample = game, jax.jit(game.sample)
    grid = config.train.grid_size
    self._columns = grid
    self._grid_inputs = game.sample_inputs(jax.random.key(config.seed + 1), grid * grid,
                                           runs.class_rows(game.num_classes, grid * grid, grid))
    self._eval_rng = jax.random.key(config.seed + 2)  # The same latents at every evaluation.
    self.features = config_lib.eval_features(config)
    self.label = f'{self.features} features'
    self.evaluates = bool(self.features) and config.eval.num_samples > 0
    if self.evaluates:
      from jgan import evaluate  # Imports the metrics only when a run evaluates.

      self._evaluate = evaluate
      self._extractor = evaluate.feature_extractor(self.features, config.eval.inception_weights)
      self._real, _ = evaluate.real_features(self._extractor, self.features, config, config.data.split,
                                             config.eval.num_samples)
      self._num_samples = config.eval.num_samples

  def grid(self, state: TrainState) -> tuple[np.ndarray, int]:
    return runs.sample_images(self._sample, state, self._grid_inputs), self._columns

  def __call__(self, state: TrainState) -> dict[str, float]:
    fake = runs.sample_images(self._sample, state, self._game.sample_inputs(self._eval_rng, self._num_samples))
    fake_feats, fake_probs = self._extractor.features_and_probs(fake)
    return self._evaluate.feature_metrics(self._real, fake_feats, fake_probs)


def _format(metrics: dict[str, float]) -> str:
  return ' '.join(f'{k} {v:.4g}' for k, v in sorted(metrics.items()))


def _duration(seconds: float) -> str:
  seconds = int(seconds)
  return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m' if seconds >= 3600 else f'{seconds // 60}m{seconds % 60:02d}s'


def run(config: ml_collections.ConfigDict, workdir: str, mesh: jax.sharding.Mesh | None = None) -> dict:
  """Trains `config` in `workdir`, resuming from its latest checkpoint; returns the last logged metrics.

  Raises:
    JganError: a problem with the config, the data, the workdir or a checkpoint, in one line.
  """
  config_lib.validate(config)
  _check_workdir(workdir)
  mesh = mesh or sharding.make_mesh()
  game = runs.build_game(config)
  stages = game.stages or (Stage(0, config.train.batch_size, config.data.resolution),)

  @functools.cache  # The first stage's dataset, opened below to check the data, is the one training reads.
  def dataset(stage: Stage, first_image: int):
    if game.translations:
      return pairs.make_translation_dataset(config.data, game.unpaired, stage.batch_size, game.sub_batches,
                                            config.seed, pairs.input_shape(config)), 0
    return pipeline.make_dataset(config.data, stage.batch_size, game.sub_batches, config.seed, first_image,
                                 stage.resolution)

  _, num_classes = dataset(stages[0], 0)  # Opens the data now: a missing dataset fails before compiling.
  _check_batches_and_classes(config, game, num_classes, stages)
  checkpointer = Checkpointer(workdir, config.train.keep_checkpoints)
  best = BestCheckpoint(workdir, config.eval.best_metric)
  writer = MetricWriter(workdir) if jax.process_index() == 0 else None
  try:
    return _train(config, workdir, mesh, game, stages, dataset, checkpointer, best, writer)
  finally:
    checkpointer.close()
    best.close()
    if writer is not None:
      writer.close()


def _check_batches_and_classes(config: ml_collections.ConfigDict, game: Game, num_classes: int,
                               stages: tuple[Stage, ...]) -> None:
  for stage in stages:
    if stage.batch_size % (jax.device_count() * game.accumulation):
      raise JganError(f'a batch of {stage.batch_size} does not split into train.grad_accumulation='
                      f'{game.accumulation} micro-batches over {jax.device_count()} devices: use a multiple of '
                      f'{jax.device_count() * game.accumulation} for train.batch_size (and grow.batch_sizes)')
  if game.num_classes and game.num_classes != num_classes:
    raise JganError(f'model.num_classes={game.num_classes} but dataset {config.data.name!r} has '
                    f'{num_classes or "no"} class labels: set model.num_classes={num_classes}'
                    + (' or choose a labelled dataset' if not num_classes else ''))


def _stage_at(stages: tuple[Stage, ...], step: int) -> int:
  return max(index for index, stage in enumerate(stages) if stage.start <= step)


def _images_before(stages: tuple[Stage, ...], index: int, sub_batches: int) -> int:
  """The position in the image stream where stage `index` starts reading."""
  return sum((stages[i + 1].start - stages[i].start) * stages[i].batch_size * sub_batches for i in range(index))


def _train(config, workdir, mesh, game, stages, dataset, checkpointer, best, writer) -> dict:
  replicated = sharding.replicated(mesh)
  state = runs.initial_state(game, config, mesh)
  latest = checkpointer.latest_step()
  if latest is not None:
    state, _ = checkpointer.restore(latest, state)
    if writer:
      print(f'resumed from {checkpointer.directory} at step {latest}', flush=True)
  with open(os.path.join(workdir, 'config.json'), 'w') as f:
    f.write(config.to_json(indent=2))

  # Compiled once per pattern of active phases and, for growing games, per stage (its batch shape).
  step_fn = jax.jit(functools.partial(train_step, game), static_argnums=2, donate_argnums=0,
                    out_shardings=(replicated, replicated))
  steps_fn = jax.jit(functools.partial(train_steps, game), static_argnums=2, donate_argnums=0,
                     out_shardings=(replicated, replicated))
  monitor = translate.TranslationMonitor(config, game) if game.translations else _GenerationMonitor(config, game)

  # Every process computes samples and scores (they are jitted over global arrays); process 0 writes.
  def evaluate(step, note=''):
    if not monitor.evaluates:
      return
    scores = monitor(state)
    if step > 0:
      best.update(step, state, checkpoint_meta(), scores)
    if writer:
      writer.scalars(step, {f'eval/{monitor.features}_{k}': v for k, v in scores.items()})
      print(f'step {step:>7d} | {note}{monitor.label}: {_format(scores)}', flush=True)

  def save_samples(step):
    images, columns = monitor.grid(state)
    if writer:
      path = os.path.join(workdir, 'samples', f'step_{step:07d}.png')
      canvas = save_grid(path, images, columns, scale=max(1, 64 // config.data.resolution))
      writer.image(step, 'samples', canvas)

  def checkpoint_meta():  # Beside the state, the config it ran; the step alone fixes the data position.
    return {'config': config.to_dict()}

  def save_checkpoint(step):
    checkpointer.save(step, state, checkpoint_meta())

  start, total, train_cfg = int(state.step), config.train.steps, config.train

  def call_length(step, stage_end):
    """train.steps_per_call iterations from `step`, or 1 where a stage's end, a log line, samples or a
    checkpoint fall before the last of them."""
    n = train_cfg.steps_per_call
    intervals = (train_cfg.log_every, train_cfg.sample_every, train_cfg.checkpoint_every)
    inside = range(step + 1, step + n)  # the done counts before the call's last iteration
    if n == 1 or step + n > stage_end or any(done % every == 0 for done in inside for every in intervals):
      return 1
    return n

  if start == 0:
    evaluate(0, 'untrained generator | ')
  metrics, recent_metrics, last_saved, position = {}, {}, start, start
  with _StopRequest() as stop:
    while position < total and not stop.signal_name:
      index = _stage_at(stages, position)
      stage = stages[index]
      stage_end = min(total, stages[index + 1].start) if index + 1 < len(stages) else total
      ds, _ = dataset(stage, _images_before(stages, index, game.sub_batches))
      if stage.description and writer:
        print(f'step {position:>7d} | {stage.description}', flush=True)
      window_start, window_steps, housekeeping = None, 0, 0.0  # throughput excludes sampling and checkpoints
      with pipeline.DeviceBatches(ds, position - stage.start, sharding.batch_sharding(mesh), config.data.num_threads,
                                  prefetch=max(2, train_cfg.steps_per_call)) as batches:
        step = position
        while step < stage_end:
          n = call_length(step, stage_end)
          if n == 1:
            state, step_metrics = step_fn(state, next(batches), game.active_phases(step))
          else:
            state, step_metrics = steps_fn(state, tuple(next(batches) for _ in range(n)),
                                           tuple(game.active_phases(s) for s in range(step, step + n)))
          # Each phase's latest metrics, so that lazy phases (every k steps) show although the logged step
          # may not run them; device arrays, no synchronisation.
          recent_metrics.update(step_metrics)
          step = done = step + n
          if window_start is None:  # Time from the end of the first (compiling) call.
            jax.block_until_ready(state.step)
            window_start = time.perf_counter()
          else:
            window_steps += n
          if done % train_cfg.log_every == 0 or done == total or stop.signal_name:
            metrics = {k: float(v) for k, v in jax.device_get(recent_metrics).items()}  # The only sync.
            if not all(np.isfinite(v) for v in metrics.values()):
              raise JganError(f'a loss became NaN or inf at step {done} ({_format(metrics)}): lower the learning '
                              f'rates or add a regulariser (gan.gp_weight, model.spectral_norm)')
            rate = window_steps / (time.perf_counter() - window_start - housekeeping) if window_steps else 0.0
            if writer:
              writer.scalars(done, {**metrics, 'images_per_second': rate * stage.batch_size})
              eta = _duration((total - done) / rate) if rate else '?'
              print(f'step {done:>7d}/{total} | {rate * stage.batch_size:7.0f} img/s | {_format(metrics)} '
                    f'| eta {eta}', flush=True)
            window_start, window_steps, housekeeping = time.perf_counter(), 0, 0.0
          housekeeping_start = time.perf_counter()
          if done % train_cfg.sample_every == 0 or done == total:
            save_samples(done)
          if done % train_cfg.checkpoint_every == 0 or done == total:
            save_checkpoint(done)
            evaluate(done)
            last_saved = done
          housekeeping += time.perf_counter() - housekeeping_start
          if stop.signal_name:
            break
      position = int(state.step)
    if int(state.step) != last_saved:
      save_checkpoint(int(state.step))
    checkpointer.wait()
  if stop.signal_name and writer:
    print(f'stopped at step {int(state.step)} by {stop.signal_name}; checkpoint saved in '
          f'{checkpointer.directory}: run the same command to resume', flush=True)
  return metrics
