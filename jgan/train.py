"""The training loop behind train.py: restore or initialise, step, log, sample, evaluate, checkpoint.

What survives what (README, "Runs"): a step that makes a NaN or an infinity is never saved, evaluated or kept as
best (train.on_nonfinite: stop, or rewind to the last checkpoint and skip the batches since); a full disk stops
the run in one line with the partial checkpoint removed; a damaged checkpoint is moved aside and the run resumes
from the newest one that verifies; a second run on the same workdir is refused while the first holds its lock.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import signal
import socket
import time
from collections.abc import Iterator

import jax
import ml_collections
import numpy as np
from jax.experimental import multihost_utils

from jgan import config as config_lib
from jgan import games, runs, sharding
from jgan.checkpoint import BestCheckpoint, CheckpointDamaged, Checkpointer
from jgan.data import pairs, pipeline
from jgan.engine import NONFINITE, Game, JittedSteps, TrainState, abstract_state, initial_state, jit_steps
from jgan.errors import JganError
from jgan.schedule import Schedule
from jgan.writer import MetricWriter, save_grid

try:
  import fcntl
except ImportError:  # Windows: no advisory file locks, so no workdir lock there
  fcntl = None


def run(config: ml_collections.ConfigDict, workdir: str, mesh: jax.sharding.Mesh | None = None) -> dict:
  """Trains `config` in `workdir`, resuming from its latest checkpoint; returns the last logged metrics.

  Raises:
    JganError: a problem with the config, the data, the workdir, a checkpoint or the run's numbers, in one line.
  """
  config_lib.validate(config)
  _check_workdir(workdir)
  mesh = mesh or sharding.make_mesh()
  game = games.build_game(config)
  schedule = Schedule.of(config, game.stages, game.sub_batches)
  data = _Data(config, game, schedule, mesh)  # opens the data now: a missing dataset fails before compiling
  _check_batches_and_classes(config, game, data.num_classes, schedule)
  with contextlib.ExitStack() as stack:
    stack.enter_context(_workdir_lock(workdir))
    checkpointer = stack.enter_context(contextlib.closing(Checkpointer(workdir, config.train.keep_checkpoints)))
    best = stack.enter_context(contextlib.closing(BestCheckpoint(workdir, config.eval.best_metric)))
    writer = stack.enter_context(contextlib.closing(MetricWriter(workdir))) if jax.process_index() == 0 else None
    loop = _Loop(config, workdir, mesh, game, jit_steps(game, mesh), runs.monitor(config, game), checkpointer, best,
                 writer)
    state = loop.restore_latest()
    with open(os.path.join(workdir, 'config.json'), 'w') as f:
      f.write(config.to_json(indent=2))
    try:
      return loop.train(state, schedule, data)
    except OSError as error:  # metrics.jsonl, TensorBoard events, sample grids
      if error.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        raise
      raise JganError(f'cannot write {error.filename or workdir}: {error.strerror.lower()}; {checkpointer.intact()}: '
                      f'free space, or resume in another --workdir') from None


@dataclasses.dataclass
class _Loop:
  """The loop's parts. Everything a step changes is in the state it passes from call to call; the loop keeps the
  host's view: what it logged, when it saved, the batches a rewind skipped."""

  config: ml_collections.ConfigDict
  workdir: str
  mesh: jax.sharding.Mesh
  game: Game
  run_steps: JittedSteps
  monitor: runs.GenerationMonitor | runs.TranslationMonitor
  checkpointer: Checkpointer
  best: BestCheckpoint
  writer: MetricWriter | None
  metrics: dict = dataclasses.field(default_factory=dict)  # as last logged
  recent: dict = dataclasses.field(default_factory=dict)  # each phase's latest, on the devices
  skipped: dict[int, int] = dataclasses.field(default_factory=dict)  # stage -> batches skipped by rewinds
  rewinds: int = 0
  last_saved: int = -1
  saved_at: float = dataclasses.field(default_factory=time.monotonic)

  def train(self, state: TrainState, schedule: Schedule, data: _Data) -> dict:
    step = self.last_saved = int(state.step)
    if step == 0:
      self.evaluate(state, 0, 'untrained generator | ')
    watch = _FiniteWatch()
    with _StopRequest() as stop:
      while step < schedule.steps and not stop.signal_name:
        index, timer = schedule.stage_at(step), _Throughput()  # a stage's first call compiles its step
        self.announce(step, schedule.stages[index].description)
        with data.batches(index, step, self.skipped.get(index, 0)) as batches:
          while step < schedule.stage_end(index) and not stop.signal_name:
            n = schedule.call_length(step)
            actives = [self.game.active_phases(s) for s in range(step, step + n)]
            state, step_metrics = self.run_steps(state, [next(batches) for _ in range(n)], actives)
            watch.add(step, step_metrics)
            self.recent.update(step_metrics)  # lazy phases show although this step skipped them
            step += n
            timer.count(state, n)
            due = self.due(step, schedule.steps, stop.signal_name)
            if due and (bad := watch.first_nonfinite()) is not None:
              state, step = self.rewind(*bad, schedule)
              break
            if 'log' in due:
              self.log(step, schedule.steps, timer, schedule.stages[index].batch_size)
            with timer.paused():
              self.housekeeping(state, step, due)
      if step != self.last_saved:
        self.save(state, step)
    if stop.signal_name and self.writer:
      print(f'stopped at step {step} by {stop.signal_name}; checkpoint saved in {self.checkpointer.directory}: '
            f'run the same command to resume', flush=True)
    return self.metrics

  def due(self, step: int, last: int, stopping: str | None) -> set[str]:
    """What falls at `step`: 'log', 'samples', 'checkpoint' (a save and an evaluation) or 'save' (a time-based
    one, decided at log lines, the same on every process)."""
    train, end = self.config.train, step == last
    due = {name for name, every in (('log', train.log_every), ('samples', train.sample_every),
                                    ('checkpoint', train.checkpoint_every)) if _falls_on(step, every) or end}
    if stopping:
      due.add('log')
    if 'log' in due and train.checkpoint_minutes and self.minutes_since_save() >= train.checkpoint_minutes:
      due.add('save')
    return due

  def minutes_since_save(self) -> float:
    minutes = np.float32((time.monotonic() - self.saved_at) / 60)
    return float(multihost_utils.broadcast_one_to_all(minutes) if jax.process_count() > 1 else minutes)

  def log(self, step: int, last: int, timer: _Throughput, batch_size: int) -> None:
    """Prints and writes the latest metrics (the loop's one synchronisation with the devices)."""
    self.metrics = {k: float(v) for k, v in jax.device_get(self.recent).items()}
    rate = timer.rate() * batch_size
    if self.writer:
      self.writer.scalars(step, {**self.metrics, 'images_per_second': rate})
      eta = _duration((last - step) * batch_size / rate) if rate else '?'
      print(f'step {step:>7d}/{last} | {rate:7.0f} img/s | {_format(self.metrics)} | eta {eta}', flush=True)
    timer.reset()

  def housekeeping(self, state: TrainState, step: int, due: set[str]) -> None:
    if 'samples' in due:
      self.save_samples(state, step)
    if due & {'checkpoint', 'save'}:
      self.save(state, step)
    if 'checkpoint' in due:
      self.evaluate(state, step)

  def save(self, state: TrainState, step: int) -> None:
    self.checkpointer.save(step, state, self.meta())
    self.last_saved, self.saved_at = step, time.monotonic()

  def evaluate(self, state: TrainState, step: int, note: str = '') -> None:
    """Scores `state` (every process: the samples are global arrays) and keeps the best checkpoint; the untrained
    generator's score is the bar a checkpoint must beat to be kept as best."""
    if not self.monitor.evaluates:
      return
    scores = self.monitor(state)
    if step == 0:
      self.best.baseline(scores)
    else:
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
    """What a checkpoint keeps beside the state: the config it ran, and the batches rewinds skipped (with the
    step, they fix the data position)."""
    return {'config': self.config.to_dict(), 'skipped': {str(k): v for k, v in self.skipped.items()}}

  def restore_latest(self) -> TrainState:
    """The newest checkpoint that verifies, restored onto abstract arrays (the damaged ones after it are moved
    aside, saying so); a freshly initialised state where there is no checkpoint.

    Raises:
      CheckpointDamaged: there are checkpoints and none verifies (then none is moved).
    """
    steps, damaged = self.checkpointer.all_steps(), []
    for step in reversed(steps):
      try:
        state, meta = self.checkpointer.restore(step, abstract_state(self.game, self.mesh))
      except CheckpointDamaged as error:
        damaged.append((step, error))
        continue
      for bad, error in damaged:
        print(f'warning: {error}; moved to {self.checkpointer.move_aside(bad)}, resuming from checkpoint {step}',
              flush=True)
      self.skipped = {int(k): v for k, v in meta.get('skipped', {}).items()}
      self.announce(step, f'resumed from {self.checkpointer.directory}')
      return state
    if damaged:
      raise CheckpointDamaged(f'{damaged[0][1]}, and no checkpoint in {self.checkpointer.directory} verifies: delete '
                              f'or move the step directories to start again, or use another --workdir')
    self.skipped = {}
    return initial_state(self.game, self.config.seed, self.mesh)

  def rewind(self, bad_step: int, what: str, schedule: Schedule) -> tuple[TrainState, int]:
    """After iteration `bad_step` (the update to step bad_step + 1) was not finite: stop, or
    (train.on_nonfinite='rewind') go back to the last checkpoint and skip the batches from there to the bad one,
    up to train.max_rewinds times."""
    train = self.config.train
    if train.on_nonfinite == 'stop' or self.rewinds >= train.max_rewinds:
      hint = (", or set train.on_nonfinite='rewind' to go back to the last checkpoint and skip the batches since"
              if train.on_nonfinite == 'stop' else f' (after {self.rewinds} rewinds, train.max_rewinds)')
      raise JganError(f'step {bad_step + 1} made {what} not finite: the run stopped without saving or evaluating it; '
                      f'{self.checkpointer.intact()}: lower the learning rates or add a regulariser '
                      f'(gan.gp_weight, model.spectral_norm){hint}')
    self.rewinds += 1
    state = self.restore_latest()
    step = self.last_saved = int(state.step)
    index = schedule.stage_at(step)
    skip = bad_step + 1 - step
    self.skipped[index] = self.skipped.get(index, 0) + skip
    self.recent.clear()
    self.announce(step, f'step {bad_step + 1} made {what} not finite: rewound to step {step}, skipping '
                        f'{skip} {"batch" if skip == 1 else "batches"} from there (rewind {self.rewinds} of '
                        f'{train.max_rewinds})')
    return state, step

  def announce(self, step: int, message: str) -> None:
    if self.writer and message:
      print(f'step {step:>7d} | {message}', flush=True)


class _FiniteWatch:
  """The engine's per-call NONFINITE flags, kept on the devices until something is logged, saved or evaluated:
  then read at once (no synchronisation per call)."""

  def __init__(self):
    self._calls = []  # (the call's first step, its flag, its metrics)

  def add(self, step: int, metrics: dict) -> None:
    self._calls.append((step, metrics.pop(NONFINITE), metrics))

  def first_nonfinite(self) -> tuple[int, str] | None:
    """The first iteration since the last look whose numbers were not all finite (its index: the update from that
    step to the next), and what was not (a metric and its value, or the parameters); None if there is none."""
    calls, self._calls = self._calls, []
    for (step, _, metrics), flag in zip(calls, jax.device_get([flag for _, flag, _ in calls]), strict=True):
      if flag >= 0:
        values = jax.device_get(metrics)
        bad = [f'{k} ({values[k]})' for k in sorted(values) if not np.isfinite(values[k])]
        return step + int(flag), bad[0] if bad else 'the parameters or statistics'
    return None


class _Data:
  """The input of each stage, at the stream position of any step (Schedule.first_image, and the batches a
  rewind skipped)."""

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

  def batches(self, index: int, step: int, skipped: int = 0) -> pipeline.DeviceBatches:
    """Stage `index`'s batches on the devices from iteration `step` on, `skipped` batches further along the
    stream (a context manager)."""
    ds, _ = self._dataset(index)
    start = step - self._schedule.stages[index].start + skipped
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


@contextlib.contextmanager
def _workdir_lock(workdir: str) -> Iterator[None]:
  """Holds an advisory lock on the workdir (one per process of a multi-host run) for the run's life: a second run
  there stops in one line naming the first. The system releases it when the process ends, however it ends."""
  if fcntl is None:
    yield
    return
  with open(os.path.join(workdir, f'.lock.process_{jax.process_index()}'), 'a+') as lock:
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      lock.seek(0)
      holder = lock.read().strip() or 'another process'
      raise JganError(f'--workdir={workdir} is in use by {holder}: wait for that run to end or stop it, or use '
                      f'another --workdir') from None
    lock.seek(0)
    lock.truncate()
    lock.write(f'process {os.getpid()} on {socket.gethostname()} (training since {time.strftime("%H:%M:%S")})')
    lock.flush()
    yield


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


def _falls_on(step: int, every: int) -> bool:
  """Whether an interval of `every` steps (0: none) ends at `step`."""
  return bool(every) and step % every == 0


def _format(metrics: dict[str, float]) -> str:
  return ' '.join(f'{k} {v:.4g}' for k, v in sorted(metrics.items()))


def _duration(seconds: float) -> str:
  seconds = int(seconds)
  return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m' if seconds >= 3600 else f'{seconds // 60}m{seconds % 60:02d}s'
