"""Orbax checkpoints of the whole TrainState, with a JSON record of the config it ran, its data position and a
checksum of every array; verified when restored.

Saves are synchronous: a failed write (a full disk) surfaces in the save itself, as one line, with the partial
step removed and the earlier checkpoints untouched. A restore checks the arrays' names and shapes against the
configured state, then reads every array's data and compares its checksum, before Orbax reads them again.
"""
from __future__ import annotations

import contextlib
import errno
import glob
import json
import math
import os
import re
import shutil
import zlib
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


class CheckpointDamaged(JganError):
  """A checkpoint whose data cannot be read or does not match its checksums."""


def _stored_bytes(leaf) -> np.ndarray:
  """A state leaf as its checkpoint stores it, on the host: a PRNG key as its key data; this process's copy of a
  replicated array."""
  if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
    leaf = jax.random.key_data(leaf)
  if isinstance(leaf, jax.Array):
    leaf = leaf.addressable_data(0)
  return np.ascontiguousarray(np.asarray(leaf))


def checksums(state: TrainState) -> dict[str, int]:
  """The CRC-32 of every array of `state` as stored, by its name in the checkpoint ('params.g.Dense_0.kernel')."""
  return {'.'.join(path): zlib.crc32(_stored_bytes(leaf).view(np.uint8)) for path, leaf in _leaf_paths(state).items()}


def _first_line(error: BaseException) -> str:
  """An error's first line, without TensorStore's spec (which follows 'See full TensorStore details')."""
  text = str(error).strip()
  reason = text.splitlines()[0] if text else type(error).__name__
  return reason.split('. See full TensorStore details')[0][:200]


def _damaged_array(state_dir: epath.Path, expected: dict[str, int], group: int = 32) -> str | None:
  """The first array of the Orbax state in `state_dir` whose data TensorStore cannot read, or whose CRC-32 is
  not `expected`'s (where it has one), with the reason; None when every array reads and matches.

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
        failures.append(f"{name.replace('.', '/')} cannot be read: {_first_line(error)}")
    for name, read in reads:
      try:
        data = np.ascontiguousarray(read.result())
      except Exception as error:
        failures.append(f"{name.replace('.', '/')} cannot be read: {_first_line(error)}")
        continue
      if name in expected and zlib.crc32(data.view(np.uint8)) != expected[name]:
        failures.append(f"{name.replace('.', '/')} does not match its checksum")
    if failures:
      return failures[0]
  return None


def _mount_point(path: str) -> str:
  path = os.path.abspath(path)
  while not os.path.ismount(path):
    path = os.path.dirname(path)
  return path


def _directory_bytes(path: str) -> int:
  return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)


class Checkpointer:
  """Keeps the last `keep` checkpoints in <workdir>/<subdir>."""

  def __init__(self, workdir: str, keep: int, subdir: str = 'checkpoints'):
    self.directory = os.path.abspath(os.path.join(workdir, subdir))
    with _orbax_quiet():
      self._manager = ocp.CheckpointManager(self.directory, options=ocp.CheckpointManagerOptions(
          max_to_keep=keep, create=True, enable_async_checkpointing=False))
    self._warned = False  # about the space left

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def save(self, step: int, state: TrainState, meta: dict) -> None:
    """Writes checkpoint `step`: `state`, and `meta` with the checksums of its arrays.

    Raises:
      JganError: too little space left for it (from the size of the last checkpoint, or of the state), or a
        failed write; the partial step is removed, the earlier checkpoints are untouched.
    """
    self._check_space(step, state)
    meta = {**meta, 'checksums': checksums(state)}
    try:
      with _orbax_quiet():
        self._manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                         meta=ocp.args.JsonSave(meta)), force=True)
      return
    except Exception as error:  # TensorStore's errors are ValueErrors naming the OS error's code
      code = re.search(r"os_error_code='(\d+)'", str(error))
      reason = os.strerror(int(code[1])) if code else _first_line(error)
    # Raised outside the except block, so that Orbax's error is not kept as the JganError's context.
    for partial in glob.glob(os.path.join(self.directory, f'{step}.orbax-checkpoint-tmp*')):
      shutil.rmtree(partial, ignore_errors=True)
    raise JganError(f'cannot save step {step}: {reason.lower()} ({_mount_point(self.directory)}); '
                    f'{self.intact()}: free space, or resume in another --workdir')

  def intact(self) -> str:
    """Which checkpoints the directory holds, in words: what survives a failed save or a stopped run."""
    steps = ', '.join(map(str, self.all_steps()))
    return f'checkpoints {steps} in {self.directory} are intact' if steps else f'no checkpoint in {self.directory}'

  def _check_space(self, step: int, state: TrainState) -> None:
    """Stops before a save that cannot fit: the space it needs is the last checkpoint's size, or the state's
    before the first. Warns once when less than three saves' worth is left."""
    latest = self.latest_step()
    needed = (_directory_bytes(os.path.join(self.directory, str(latest))) if latest is not None else
              sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(jax.tree.map(_as_stored, state))))
    free = shutil.disk_usage(self.directory).free
    mount = _mount_point(self.directory)
    if free < needed:
      raise JganError(f'cannot save step {step}: about {needed / 2**20:.1f} MiB needed, {free / 2**20:.1f} MiB '
                      f'free ({mount}); {self.intact()}: free space, or resume in another --workdir')
    self._reserve(step, needed)
    if free < 3 * needed and not self._warned:
      print(f'warning: {free / 2**20:.1f} MiB left on {mount}, room for about {free // max(needed, 1)} more '
            f'checkpoints of {needed / 2**20:.1f} MiB', flush=True)
      self._warned = True

  def _reserve(self, step: int, needed: int) -> None:
    """Allocates `needed` bytes in the checkpoint directory and frees them: the write that a full disk (or a
    file-size limit) would fail, tried before Orbax starts its concurrent writes, which would go on failing after
    it gave up, each printing a traceback."""
    probe = os.path.join(self.directory, f'.space_probe.{os.getpid()}')
    try:
      with open(probe, 'wb') as f:
        os.posix_fallocate(f.fileno(), 0, max(needed, 1))
    except OSError as error:
      if error.errno in (errno.EOPNOTSUPP, errno.EINVAL):  # filesystems without fallocate: Orbax's write decides
        return
      reason = error.strerror
    else:
      reason = None
    finally:
      with contextlib.suppress(OSError):
        os.remove(probe)
    if reason is not None:
      raise JganError(f'cannot save step {step}: {reason.lower()} ({_mount_point(self.directory)}); '
                      f'{self.intact()}: free space, or resume in another --workdir')

  def restore(self, step: int, target: TrainState) -> tuple[TrainState, dict]:
    """Restores onto `target`'s structure and shardings (abstract arrays suffice: engine.abstract_state).

    Raises:
      CheckpointDamaged: an array cannot be read, or does not match its checksum.
      JganError: the checkpoint does not fit the configured model.
    """
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    state_dir = epath.Path(self.directory) / str(step) / 'state'
    difference = restored = None
    try:
      with _orbax_quiet():
        # The arrays' paths and shapes first, so that a config mismatch is named before any array is read; then
        # every array's data against its checksum, so that a damaged one is found before Orbax reads them all.
        stored = ocp.StandardCheckpointHandler().metadata(state_dir)
        difference = _first_difference(_leaf_paths(stored), _leaf_paths(jax.tree.map(_as_stored, abstract)))
        if difference is None:
          meta = self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
          reason = _damaged_array(state_dir, meta.get('checksums', {}))
          if reason is None:
            restored = self._manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
    except Exception as error:  # Orbax raises many types (ValueError, KeyError, FileNotFoundError, ...).
      reason = _first_line(error)
    if difference is not None:
      raise JganError(f'checkpoint {step} in {self.directory} was written for another config ({difference}): '
                      f'resume with the config it was written with, or use a new --workdir')
    if reason is not None:  # raised outside the except block, so that Orbax's error is not kept as its context
      raise CheckpointDamaged(f'checkpoint {step} in {self.directory} is damaged ({reason})')
    return restored.state, dict(restored.meta)

  def move_aside(self, step: int) -> str:
    """Renames step directory `step` to <step>.damaged (never deleting it), out of Orbax's view; returns the
    new path."""
    path = os.path.join(self.directory, str(step))
    target, n = f'{path}.damaged', 1
    while os.path.exists(target):
      n += 1
      target = f'{path}.damaged{n}'
    os.rename(path, target)
    self._manager.reload()
    return target

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()


# Metrics where a larger value is better; for the others (fd, kid, ...) the smallest is best.
HIGHER_IS_BETTER = frozenset({'is', 'precision', 'recall', 'confidence', 'class_entropy', 'psnr', 'psnr_set', 'ssim'})


class BestCheckpoint:
  """The one checkpoint with the best value of `metric` so far, in <workdir>/best, beside the latest ones. The bar
  starts at the untrained generator's value (`baseline`): a run that only got worse keeps no best checkpoint."""

  def __init__(self, workdir: str, metric: str):
    self.metric = metric
    self._checkpointer = Checkpointer(workdir, keep=1, subdir='best')
    self._record = os.path.join(self._checkpointer.directory, 'best.json')
    self.value = None
    if os.path.exists(self._record):
      with open(self._record) as f:
        self.value = json.load(f)['value']

  def _value(self, metrics: dict[str, float]) -> float:
    if self.metric not in metrics:
      raise JganError(f'eval.best_metric={self.metric!r} is not measured; use one of {", ".join(sorted(metrics))}')
    return metrics[self.metric]

  def _better(self, value: float) -> bool:
    sign = -1.0 if self.metric in HIGHER_IS_BETTER else 1.0
    return math.isfinite(value) and (self.value is None or sign * value < sign * self.value)

  def baseline(self, metrics: dict[str, float]) -> None:
    """Records the untrained generator's value as the bar, where a run has none yet (no checkpoint is kept)."""
    value = self._value(metrics)
    if self.value is None and math.isfinite(value):
      self._write(0, value)

  def update(self, step: int, state: TrainState, meta: dict, metrics: dict[str, float]) -> bool:
    """Saves `state` if `metrics[metric]` is finite and beats the best so far; returns whether it did."""
    value = self._value(metrics)
    if not self._better(value):
      return False
    self._checkpointer.save(step, state, meta)
    self._write(step, value)
    return True

  def _write(self, step: int, value: float) -> None:
    self.value = value
    if jax.process_index() == 0:
      with open(self._record, 'w') as f:
        json.dump({'step': step, 'metric': self.metric, 'value': value}, f)

  def close(self) -> None:
    self._checkpointer.wait()
    self._checkpointer.close()
