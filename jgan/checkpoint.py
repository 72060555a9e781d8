"""Orbax checkpoints of the whole TrainState plus a JSON record of the data position and config."""
from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp

from jgan.engine import TrainState
from jgan.errors import JganError


class Checkpointer:
  """Keeps the last `keep` checkpoints in <workdir>/checkpoints; saves are atomic and asynchronous."""

  def __init__(self, workdir: str, keep: int):
    self.directory = os.path.abspath(os.path.join(workdir, 'checkpoints'))
    self._manager = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

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
