"""Scalars to three places: the console (process 0), metrics.jsonl, and TensorBoard event files."""
from __future__ import annotations

import json
import os

import numpy as np


def read_metrics(workdir: str) -> list[dict[str, float]]:
  """The rows of <workdir>/metrics.jsonl, in the order written: {'step': ..., name: value, ...}."""
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f if line.strip()]


class MetricWriter:
  """Appends {'step': ..., name: value} lines to <workdir>/metrics.jsonl and TensorBoard's <workdir>/tb."""

  def __init__(self, workdir: str):
    from tensorboardX import SummaryWriter  # Imported here: only the training loop writes events.

    self._jsonl = open(os.path.join(workdir, 'metrics.jsonl'), 'a')
    self._tb = SummaryWriter(os.path.join(workdir, 'tb'))

  def scalars(self, step: int, values: dict[str, float]) -> None:
    values = {k: float(v) for k, v in values.items()}
    self._jsonl.write(json.dumps({'step': step, **values}) + '\n')
    self._jsonl.flush()
    for name, value in values.items():
      self._tb.add_scalar(name, value, step)

  def image(self, step: int, name: str, image: np.ndarray) -> None:
    self._tb.add_image(name, image, step, dataformats='HWC')

  def close(self) -> None:
    self._jsonl.close()
    self._tb.close()
