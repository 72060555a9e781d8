"""Orbax checkpoints of the whole TrainState plus a JSON record of the config it ran."""
from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator

import jax
import numpy as np
import orbax.checkpoint as ocp
import tensorstore as ts
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


def _leaf_paths(tree) -> dict[tuple[str, ...], object]:
  """{('params', 'g', 'Dense_0', 'kernel'): leaf}: the same for a TrainState and Orbax's metadata of one."""
  return {tuple(str(getattr(key, 'key', getattr(key, 'name', getattr(key, 'idx', key)))) for key in path): leaf
          for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def _as_stored(leaf):
  """The shape and dtype a leaf has in a checkpoint: a typed PRNG key is stored as its key data."""
  if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
    return jax.eval_shape(jax.random.key_data, leaf)
  return leaf


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


def _first_line(error: BaseException) -> str:
  """An error's first line, without TensorStore's spec (which follows 'See full TensorStore details')."""
  text = str(error).strip()
  reason = text.splitlines()[0] if text else type(error).__name__
  return reason.split('. See full TensorStore details')[0][:200]


def _unreadable_array(state_dir: epath.Path, group: int = 32) -> str | None:
  """The first array of the Orbax state in `state_dir` whose data TensorStore cannot read, with the reason; None
  when every array reads.

  Every read is awaited, failed or not. Orbax's restore reads all arrays at once and, at the first that fails,
  gives up on the others while they are still running; they fail later, on the event loop it has closed, each
  printing a traceback. Read here first, a damaged checkpoint costs one line; a sound one is read twice, the
  second time from the page cache. Arrays are read `group` at a time, so that at most those are held in
  memory. The state is Orbax's layout: zarr arrays in one OCDBT key-value store.
  """
  base = {'driver': 'ocdbt', 'base': f'file://{state_dir}'}
  keys = [key.decode() for key in ts.KvStore.open(base).result().list().result()]
  drivers = {'.zarray': 'zarr', 'zarr.json': 'zarr3'}
  arrays = sorted((key.rpartition('/')[0], drivers[key.rpartition('/')[2]]) for key in keys
                  if key.rpartition('/')[2] in drivers)
  for start in range(0, len(arrays), group):
    openings = [(name, ts.open({'driver': driver, 'kvstore': {**base, 'path': f'{name}/'}}, open=True))
                for name, driver in arrays[start:start + group]]
    reads, failures = [], []
    for name, opening in openings:  # wait for every opening and every read of the group: none is left running
      try:
        reads.append((name, opening.result().read()))
      except Exception as error:  # TensorStore raises ValueError and others
        failures.append((name, error))
    for name, read in reads:
      try:
        read.result()
      except Exception as error:
        failures.append((name, error))
    if failures:
      name, error = failures[0]
      return f"{name.replace('.', '/')} cannot be read: {_first_line(error)}"
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
    """Restores onto `target`'s structure and shardings (abstract arrays suffice: engine.abstract_state).

    Raises:
      JganError: the checkpoint is unreadable or does not fit the configured model.
    """
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    state_dir = epath.Path(self.directory) / str(step) / 'state'
    difference = restored = None
    try:
      with _orbax_quiet():
        # The arrays' paths and shapes first, so that a config mismatch is named before any array is read; then
        # every array's data, so that a damaged one is found before Orbax reads them all at once.
        stored = ocp.StandardCheckpointHandler().metadata(state_dir)
        difference = _first_difference(_leaf_paths(stored), _leaf_paths(jax.tree.map(_as_stored, abstract)))
        reason = None if difference else _unreadable_array(state_dir)
        if difference is None and reason is None:
          restored = self._manager.restore(step, args=ocp.args.Composite(
              state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
    except Exception as error:  # Orbax raises many types (ValueError, KeyError, FileNotFoundError, ...).
      reason = _first_line(error)
    if difference is not None:
      raise JganError(f'checkpoint {step} in {self.directory} was written for another config ({difference}): '
                      f'resume with the config it was written with, or use a new --workdir')
    if reason is not None:  # raised outside the except block, so that Orbax's error is not kept as its context
      raise JganError(f'checkpoint {step} in {self.directory} is corrupt ({reason}): delete that step directory '
                      f'to resume from an earlier one, or use a new --workdir')
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
