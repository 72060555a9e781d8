"""A classifier network as the feature-space metrics use it (the digits classifier, FID's Inception), and the
folder where jgan keeps what it computes once per machine (that classifier, real-image statistics)."""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import numpy as np


def cache_dir() -> str:
  """$JGAN_CACHE_DIR if set, else ~/.cache/jgan."""
  return os.environ.get('JGAN_CACHE_DIR') or os.path.join(os.path.expanduser('~'), '.cache', 'jgan')


@dataclasses.dataclass(frozen=True, eq=False)
class FeatureExtractor:
  """images -> (features, class probabilities), in fixed-size jitted batches."""

  name: str  # in error messages: 'the digits classifier', 'the Inception network'
  apply: Callable  # a jitted function of a float32 [batch_size, H, W, C] array -> (features, probabilities)
  num_features: int
  num_classes: int
  batch_size: int

  def features_and_probs(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The features and class probabilities of `images`, float [N, H, W, C] in [-1, 1], any H and W, C = 1 or 3.

    The last batch is zero-padded, so that each input shape compiles once.

    Returns:
      (features float64 [N, num_features], probabilities float64 [N, num_classes]).
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
      raise ValueError(f'{self.name} takes images [N, H, W, 1 or 3], got shape {images.shape}; '
                       'pass NHWC grey or RGB images.')
    n = images.shape[0]
    if n == 0:
      return np.zeros((0, self.num_features)), np.zeros((0, self.num_classes))
    size = max(1, min(self.batch_size, n))
    features, probs = [], []
    for start in range(0, n, size):
      batch = images[start:start + size]
      padded = np.concatenate([batch, np.zeros((size - len(batch),) + batch.shape[1:], np.float32)])
      f, p = self.apply(padded)
      features.append(np.asarray(f, np.float64)[:len(batch)])
      probs.append(np.asarray(p, np.float64)[:len(batch)])
    return np.concatenate(features), np.concatenate(probs)
