"""Feature extraction in fixed-size jitted batches, shared by the feature extractors."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


def features_and_probs(apply: Callable, images: np.ndarray, batch_size: int, num_features: int,
                       num_classes: int, network: str) -> tuple[np.ndarray, np.ndarray]:
  """Runs `apply(batch) -> (features, probs)` over `images` in batches of one size.

  Args:
    apply: a jitted function of a float32 [batch, H, W, C] array.
    images: float [N, H, W, C] in [-1, 1], C = 1 or 3.
    batch_size: images per call; the last batch is zero-padded so that each input shape compiles once.
    num_features: the feature width, for the shape of an empty result.
    num_classes: the number of class probabilities, likewise.
    network: the network's name, for the error message.
  Returns:
    (features float64 [N, num_features], probabilities float64 [N, num_classes]).
  """
  images = np.asarray(images, np.float32)
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f'{network} takes images [N, H, W, 1 or 3], got shape {images.shape}; '
                     'pass NHWC grey or RGB images.')
  n = images.shape[0]
  if n == 0:
    return np.zeros((0, num_features)), np.zeros((0, num_classes))
  size = max(1, min(batch_size, n))
  features, probs = [], []
  for start in range(0, n, size):
    batch = images[start:start + size]
    padded = np.concatenate([batch, np.zeros((size - len(batch),) + batch.shape[1:], np.float32)])
    f, p = apply(padded)
    features.append(np.asarray(f, np.float64)[:len(batch)])
    probs.append(np.asarray(p, np.float64)[:len(batch)])
  return np.concatenate(features), np.concatenate(probs)
