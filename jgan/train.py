"""The training loop behind train.py: restore or initialise, step, log, sample, evaluate, checkpoint."""
from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import time

import jax
import ml_collections
import numpy as np

from jgan import config as config_lib
from jgan import games, runs, sharding
from jgan.checkpoint import BestCheckpoint, Checkpointer
from jgan.data import pairs, pipeline
from jgan.engine import Game, JittedSteps, TrainState, abstract_state, initial_state, jit_steps
from jgan.errors import JganError
from jgan.schedule import Schedule
from jgan.writer import MetricWriter, save_grid


def run(config: ml_collections.ConfigDict, workdir: str, mesh: jax.sharding.Mesh | None = None) -> dict:
  """Trains `config` in `workdir`, resuming from its latest checkpoint; returns the last logged metrics.

  Raises:
    JganError: a problem with the config, the data, the workdir or a checkpoint, in one line.
  """
  config_lib.validate(config)
  _check_workdir(workdir)
  mesh = mesh or sharding.make_mesh()
  game = games.build_game(config)
  schedule = Schedule.of(config, game.stages, game.sub_batches)
  data = _Data(config, game, schedule, mesh)  # opens the data now: a missing dataset fails before compiling
  _check_batches_and_classes(config, game, data.num_classes, schedule)
  with contextlib.ExitStack() as stack:
    checkpointer = stack.enter_context(contextlib.closing(Checkpointer(workdir, config.train.keep_checkpoints)))
    best = stack.enter_context(contextlib.closing(BestCheckpoint(workdir, config.eval.best_metric)))
    writer = stack.enter_context(contextlib.closing(MetricWriter(workdir))) if jax.process_index() == 0 else None
    state = _restore_or_initialise(config, workdir, mesh, game, checkpointer, writer)
    loop = _Loop(config, workdir, game, jit_steps(game, mesh), runs.monitor(config, game), checkpointer, best,
                 writer)
    return loop.train(state, schedule, data)


@dataclasses.dataclass
class _Loop:
  """The loop's parts. Everything a step changes is in the state it passes from call to call."""

  config: ml_collections.ConfigDict
  workdir: str
  game: Game
  run_steps: JittedSteps
  monitor: runs.GenerationMonitor | runs.TranslationMonitor
  checkpointer: Checkpointer
  best: BestCheckpoint
  writer: MetricWriter | None

  def train(self, state: TrainState, schedule: Schedule, data: _Data) -> dict:
    step = last_saved = int(state.step)
    if step == 0:
      self.evaluate(state, 0, 'untrained generator | ')
    metrics, recent = {}, {}
    with _StopRequest() as stop:
      while step < schedule.steps and not stop.signal_name:
        index, timer = schedule.stage_at(step), _Throughput()  # a stage's first call compiles its step
        self.announce(step, schedule.stages[index].description)
        with data.batches(index, step) as batches:
          while step < schedule.stage_end(index) and not stop.signal_name:
            n = schedule.call_length(step)
            actives = [self.game.active_phases(s) for s in range(step, step + n)]
            state, step_metrics = self.run_steps(state, [next(batches) for _ in range(n)], actives)
            recent.update(step_metrics)  # each phase's latest: lazy phases show although this step skipped them
            step += n
            timer.count(state, n)
            if step % self.config.train.log_every == 0 or step == schedule.steps or stop.signal_name:
              metrics = self.log(step, schedule, recent, timer, schedule.stages[index].batch_size)
            with timer.paused():
              last_saved = self.housekeeping(state, step, schedule.steps, last_saved)
      if step != last_saved:
        self.checkpointer.save(step, state, self.meta())
      self.checkpointer.wait()
    if stop.signal_name and self.writer:
      print(f'stopped at step {step} by {stop.signal_name}; checkpoint saved in {self.checkpointer.directory}: '
            f'run the same command to resume', flush=True)
    return metrics

  def log(self, step: int, schedule: Schedule, recent: dict, timer: _Throughput, batch_size: int) -> dict:
    """Prints and writes the latest metrics (the loop's one synchronisation with the devices); stops the run
    on a non-finite value."""
    metrics = {k: float(v) for k, v in jax.device_get(recent).items()}
    if not all(np.isfinite(v) for v in metrics.values()):
      raise JganError(f'a loss became NaN or inf at step {step} ({_format(metrics)}): lower the learning '
                      f'rates or add a regulariser (gan.gp_weight, model.spectral_norm)')
    rate = timer.rate() * batch_size
    if self.writer:
      self.writer.scalars(step, {**metrics, 'images_per_second': rate})
      eta = _duration((schedule.steps - step) * batch_size / rate) if rate else '?'
      print(f'step {step:>7d}/{schedule.steps} | {rate:7.0f} img/s | {_format(metrics)} | eta {eta}', flush=True)
    timer.reset()
    return metrics

  def housekeeping(self, state: TrainState, step: int, last: int, last_saved: int) -> int:
    """Samples and checkpoints (with an evaluation) at their intervals; returns the last saved step."""
    if step % self.config.train.sample_every == 0 or step == last:
      self.save_samples(state, step)
    if step % self.config.train.checkpoint_every == 0 or step == last:
      self.checkpointer.save(step, state, self.meta())
      self.evaluate(state, step)
      return step
    return last_saved

  def evaluate(self, state: TrainState, step: int, note: str = '') -> None:
    """Scores `state` (every process: the samples are global arrays) and keeps the best checkpoint."""
    if not self.monitor.evaluates:
      return
    scores = self.monitor(state)
    if step > 0:
      self.best.update(step, state, self.meta(), scores)
    if self.writer:
      self.writer.scalars(step, {f'eval/{self.monitor.features}_{k}': v for k, v in scores.items()})
      self.announce(step, f'{note}{self.monitor.label}: {_format(scores)}')

  def save_samples(self, state: TrainState, step: int) -> None:
    images, columns = self.monitor.grid(state)
    if self.writer:
      path = os.path.join(self.workdir, 'samples', f'step_{step:07d}.png')
      canvas = save_grid(path, images, columns, scale=max(1, 64 // self.config.data.resolution))
      self.writer.image(step, 'samples', canvas)

  def meta(self) -> dict:
    """What a checkpoint keeps beside the state: the config it ran (the step alone fixes the data position)."""
    return {'config': self.config.to_dict()}

  def announce(self, step: int, message: str) -> None:
    if self.writer and message:
      print(f'step {step:>7d} | {message}', flush=True)


class _Data:
  """The input of each stage, at the stream position of any step (Schedule.first_image)."""

  def __init__(self, config: ml_collections.ConfigDict, game: Game, schedule: Schedule, mesh: jax.sharding.Mesh):
    self._config, self._game, self._schedule, self._mesh = config, game, schedule, mesh
    self._opened = {}
    _, self.num_classes = self._dataset(0)

  def _dataset(self, index: int):
    if index not in self._opened:  # the first stage's, opened to check the data, is the one training reads
      config, game, stage = self._config, self._game, self._schedule.stages[index]
      if game.translations:
        self._opened[index] = pairs.make_translation_dataset(config.data, game.unpaired, stage.batch_size,
                                                             game.sub_batches, config.seed, game.input_shape), 0
      else:
        self._opened[index] = pipeline.make_dataset(config.data, stage.batch_size, game.sub_batches, config.seed,
                                                    self._schedule.first_image(index), stage.resolution)
    return self._opened[index]

  def batches(self, index: int, step: int) -> pipeline.DeviceBatches:
    """Stage `index`'s batches on the devices from iteration `step` on (a context manager)."""
    ds, _ = self._dataset(index)
    start = step - self._schedule.stages[index].start
    return pipeline.DeviceBatches(ds, start, sharding.batch_sharding(self._mesh), self._config.data.num_threads,
                                  prefetch=max(2, self._config.train.steps_per_call))


class _Throughput:
  """Iterations per second of training alone: from the end of the first (compiling) call, without the time
  spent sampling, evaluating and checkpointing."""

  def __init__(self):
    self._start, self._iterations, self._paused = None, 0, 0.0

  def count(self, state: TrainState, n: int) -> None:
    if self._start is None:
      jax.block_until_ready(state.step)
      self.reset()
    else:
      self._iterations += n

  @contextlib.contextmanager
  def paused(self):
    start = time.perf_counter()
    try:
      yield
    finally:
      self._paused += time.perf_counter() - start

  def rate(self) -> float:
    if not self._iterations:
      return 0.0
    return self._iterations / (time.perf_counter() - self._start - self._paused)

  def reset(self) -> None:
    self._start, self._iterations, self._paused = time.perf_counter(), 0, 0.0


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


def _restore_or_initialise(config: ml_collections.ConfigDict, workdir: str, mesh: jax.sharding.Mesh, game: Game,
                           checkpointer: Checkpointer, writer: MetricWriter | None) -> TrainState:
  """The latest checkpoint's state (restored onto abstract arrays), or a freshly initialised one; writes the
  config it runs to config.json."""
  latest = checkpointer.latest_step()
  if latest is None:
    state = initial_state(game, config.seed, mesh)
  else:
    state, _ = checkpointer.restore(latest, abstract_state(game, mesh))
    if writer:
      print(f'resumed from {checkpointer.directory} at step {latest}', flush=True)
  with open(os.path.join(workdir, 'config.json'), 'w') as f:
    f.write(config.to_json(indent=2))
  return state


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


def _check_batches_and_classes(config: ml_collections.ConfigDict, game: Game, num_classes: int,
                               schedule: Schedule) -> None:
  for stage in schedule.stages:
    if stage.batch_size % (jax.device_count() * game.accumulation):
      raise JganError(f'a batch of {stage.batch_size} does not split into train.grad_accumulation='
                      f'{game.accumulation} micro-batches over {jax.device_count()} devices: use a multiple of '
                      f'{jax.device_count() * game.accumulation} for train.batch_size (and grow.batch_sizes)')
  if game.num_classes and game.num_classes != num_classes:
    raise JganError(f'model.num_classes={game.num_classes} but dataset {config.data.name!r} has '
                    f'{num_classes or "no"} class labels: set model.num_classes={num_classes}'
                    + (' or choose a labelled dataset' if not num_classes else ''))


def _format(metrics: dict[str, float]) -> str:
  return ' '.join(f'{k} {v:.4g}' for k, v in sorted(metrics.items()))


def _duration(seconds: float) -> str:
  seconds = int(seconds)
  return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m' if seconds >= 3600 else f'{seconds // 60}m{seconds % 60:02d}s'
