"""Orbax checkpoints of the whole TrainState plus a JSON record of the data position and config."""
from __future__ import annotations

import json
import os

import jax
import orbax.checkpoint as ocp

from jgan.engine import TrainState
from jgan.errors import JganError


class Checkpointer:
  """Keeps the last `keep` checkpoints in <workdir>/<subdir>; saves are atomic and asynchronous."""

  def __init__(self, workdir: str, keep: int, subdir: str = 'checkpoints'):
    self.directory = os.path.abspath(os.path.join(workdir, subdir))
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
    try:
      restored = self._manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract),
                                                                      meta=ocp.args.JsonRestore()))
    except Exception as error:  # Orbax raises many types (ValueError, KeyError, FileNotFoundError, ...).
      reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
      raise JganError(f'checkpoint {step} in {self.directory} is corrupt or was written for another config '
                      f'({reason}): delete that step directory to resume from an earlier one, or use a new '
                      f'--workdir') from None
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
