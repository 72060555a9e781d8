"""Orbax checkpoints of the whole TrainState plus a JSON record of the data position and config."""
from __future__ import annotations

import contextlib
import gc
import json
import logging as pylogging
import os
import sys
import time
import traceback
from collections.abc import Iterator

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging
from etils import epath

from jgan.engine import TrainState
from jgan.errors import JganError


@contextlib.contextmanager
def _orbax_quiet() -> Iterator[None]:
  """Orbax logs an unreadable checkpoint file as an error before it raises; the JganError says it once instead."""
  verbosity = logging.get_verbosity()
  logging.set_verbosity(logging.FATAL)
  try:
    yield
  finally:
    logging.set_verbosity(verbosity)


def _from_orbax(error: BaseException | None) -> bool:
  frames = traceback.extract_tb(error.__traceback__) if error is not None else []
  return any(f'{os.sep}orbax{os.sep}' in frame.filename for frame in frames)


class _AbandonedReads(pylogging.Filter):
  """While a restore runs, and after it failed, sys.unraisablehook, sys.excepthook and a filter on the asyncio
  logger: when Orbax gives up on a damaged checkpoint, its reads of the other arrays, still in flight, fail later
  (their coroutines and tasks finalised with the error, their TensorStore callbacks meeting the closed event
  loop), each printing a traceback: hundreds of lines for one corrupt checkpoint. The JganError says what is
  wrong, so those are dropped and counted; everything else goes to the previous hooks and through the filter.
  Installed before the restore starts, since the first callbacks fail as soon as Orbax closes its loop."""

  def __init__(self):
    super().__init__()
    self.previous, self.previous_excepthook, self.dropped = sys.unraisablehook, sys.excepthook, 0
    sys.unraisablehook, sys.excepthook = self, self.excepthook
    pylogging.getLogger('asyncio').addFilter(self)

  def uninstall(self) -> None:
    """After a restore that succeeded: the previous hooks back."""
    sys.unraisablehook, sys.excepthook = self.previous, self.previous_excepthook
    pylogging.getLogger('asyncio').removeFilter(self)

  def wait_until_quiet(self) -> None:
    """After a failed restore: waits, at most 2 s, until no abandoned read has failed for 0.3 s, so that they
    fail now rather than while the interpreter exits, when Python prints with its default hooks."""
    start = quiet_since = time.monotonic()
    seen = self.dropped
    while time.monotonic() - quiet_since < 0.3 and time.monotonic() - start < 2.0:
      time.sleep(0.05)
      gc.collect()  # finalises the abandoned coroutines, which reference one another
      if self.dropped != seen:
        seen, quiet_since = self.dropped, time.monotonic()

  def excepthook(self, kind, error, trace) -> None:
    """sys.excepthook, which Python calls for an error raised in a callback from TensorStore's threads."""
    if isinstance(error, RuntimeError) and str(error) == 'Event loop is closed':
      self.dropped += 1
    else:
      self.previous_excepthook(kind, error, trace)

  def filter(self, record: pylogging.LogRecord) -> bool:
    """Drops asyncio's 'Task/Future exception was never retrieved': Orbax's abandoned reads, a Future's error
    coming from TensorStore with no Python frame to tell it by (so, during a restore, any such record)."""
    if 'exception was never retrieved' in record.getMessage():
      self.dropped += 1
      return False
    return True

  def __call__(self, unraisable) -> None:
    error = unraisable.exc_value
    if _from_orbax(error) or (isinstance(error, RuntimeError) and str(error) == 'Event loop is closed'):
      self.dropped += 1
    else:
      self.previous(unraisable)


def _leaf_paths(tree) -> dict[tuple[str, ...], object]:
  """{('params', 'g', 'Dense_0', 'kernel'): leaf}: the same for a TrainState and Orbax's metadata of one."""
  return {tuple(str(getattr(key, 'key', getattr(key, 'name', getattr(key, 'idx', key)))) for key in path): leaf
          for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def _first_difference(stored: dict, configured: dict) -> str | None:
  """The first array (by path) that the checkpoint and the configured state disagree on, in words."""
  for path in sorted(set(stored) | set(configured)):
    name = '/'.join(path)
    if path not in configured:
      return f'{name} is in the checkpoint, not in the configured model'
    if path not in stored:
      return f'{name} is in the configured model, not in the checkpoint'
    old, new = stored[path], configured[path]
    if tuple(old.shape) != tuple(new.shape) or np.dtype(old.dtype) != np.dtype(new.dtype):
      return (f'{name} is {np.dtype(old.dtype)}{list(old.shape)} in the checkpoint, '
              f'{np.dtype(new.dtype)}{list(new.shape)} configured')
  return None


class Checkpointer:
  """Keeps the last `keep` checkpoints in <workdir>/<subdir>; saves are atomic and asynchronous."""

  def __init__(self, workdir: str, keep: int, subdir: str = 'checkpoints'):
    self.directory = os.path.abspath(os.path.join(workdir, subdir))
    with _orbax_quiet():
      self._manager = ocp.CheckpointManager(
          self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def save(self, step: int, state: TrainState, meta: dict) -> None:
    self._manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                     meta=ocp.args.JsonSave(meta)), force=True)

  def restore(self, step: int, target: TrainState) -> tuple[TrainState, dict]:
    """Restores onto `target`'s structure and shardings (abstract arrays suffice).

    Raises:
      JganError: the checkpoint is unreadable or does not fit the configured model.
    """
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    abandoned_reads = _AbandonedReads()
    try:
      with _orbax_quiet():
        # The arrays' paths and shapes first, so that a config mismatch is named before any array is read.
        stored = ocp.StandardCheckpointHandler().metadata(epath.Path(self.directory) / str(step) / 'state')
        difference = _first_difference(_leaf_paths(stored), _leaf_paths(abstract))
        if difference is None:
          restored = self._manager.restore(step, args=ocp.args.Composite(
              state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
    except Exception as error:  # Orbax raises many types (ValueError, KeyError, FileNotFoundError, ...).
      reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
      reason = reason.split('. See full TensorStore details')[0][:200]  # the rest is TensorStore's spec
    else:
      reason = None
    if reason is not None:  # raised here, not in the except block, so that Orbax's error (and with its traceback
      # the abandoned reads) is freed now rather than kept as the JganError's context until the program exits
      abandoned_reads.wait_until_quiet()
      raise JganError(f'checkpoint {step} in {self.directory} is corrupt or was written for another config '
                      f'({reason}): delete that step directory to resume from an earlier one, or use a new '
                      f'--workdir')
    abandoned_reads.uninstall()
    if difference is not None:
      raise JganError(f'checkpoint {step} in {self.directory} was written for another config ({difference}): '
                      f'resume with the config it was written with, or use a new --workdir')
    return restored.state, dict(restored.meta)

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()


# Metrics where a larger value is better; for the others (fd, kid, ...) the smallest is best.
HIGHER_IS_BETTER = frozenset({'is', 'precision', 'recall', 'confidence', 'class_entropy', 'psnr', 'psnr_set', 'ssim'})


class BestCheckpoint:
  """The one checkpoint with the best value of `metric` so far, in <workdir>/best, beside the latest ones."""

  def __init__(self, workdir: str, metric: str):
    self.metric = metric
    self._checkpointer = Checkpointer(workdir, keep=1, subdir='best')
    self._record = os.path.join(self._checkpointer.directory, 'best.json')
    self.value = None
    if os.path.exists(self._record):
      with open(self._record) as f:
        self.value = json.load(f)['value']

  def update(self, step: int, state: TrainState, meta: dict, metrics: dict[str, float]) -> bool:
    """Saves `state` if `metrics[metric]` beats the best so far; returns whether it did."""
    if self.metric not in metrics:
      raise JganError(f'eval.best_metric={self.metric!r} is not measured; use one of {", ".join(sorted(metrics))}')
    value = metrics[self.metric]
    sign = -1.0 if self.metric in HIGHER_IS_BETTER else 1.0
    if self.value is not None and sign * value >= sign * self.value:
      return False
    self._checkpointer.save(step, state, meta)
    self.value = value
    if jax.process_index() == 0:
      with open(self._record, 'w') as f:
        json.dump({'step': step, 'metric': self.metric, 'value': value}, f)
    return True

  def close(self) -> None:
    self._checkpointer.wait()
    self._checkpointer.close()
