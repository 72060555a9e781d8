"""What a run writes besides its checkpoints: scalars to metrics.jsonl and TensorBoard event files, and image
grids as PNG files."""
from __future__ import annotations

import json
import os

import numpy as np
from PIL import Image


def to_uint8(images: np.ndarray) -> np.ndarray:
  """[-1, 1] floats -> uint8, rounding as the samples would be saved."""
  return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def grid(images: np.ndarray, columns: int, padding: int = 2) -> np.ndarray:
  """[N, H, W, C] in [-1, 1] -> one uint8 [rows * (H + p) + p, columns * (W + p) + p, C] image."""
  images = to_uint8(images)
  n, height, width, channels = images.shape
  rows = -(-n // columns)
  canvas = np.zeros((rows * (height + padding) + padding, columns * (width + padding) + padding, channels),
                    np.uint8)
  for i, image in enumerate(images):
    top, left = padding + (i // columns) * (height + padding), padding + (i % columns) * (width + padding)
    canvas[top:top + height, left:left + width] = image
  return canvas


def save_grid(path: str, images: np.ndarray, columns: int, scale: int = 1) -> np.ndarray:
  """Writes `images` as a PNG grid, each pixel repeated `scale` times so that small images are visible.

  Returns:
    The uint8 [H, W, C] grid as written.
  """
  canvas = grid(images, columns)
  if scale > 1:
    canvas = canvas.repeat(scale, axis=0).repeat(scale, axis=1)
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  tmp = path + '.tmp.png'
  Image.fromarray(canvas[..., 0] if canvas.shape[-1] == 1 else canvas).save(tmp)
  os.replace(tmp, path)
  return canvas


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
