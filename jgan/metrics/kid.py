"""Kernel Inception Distance (Binkowski et al. 2018) between two sets of precomputed features.

Feature-agnostic like the Frechet distance: Inception pool features give KID proper, the digits classifier's
features a digits KID. Unlike FID, the estimator is unbiased, so its value does not depend on the sample size.
"""
from __future__ import annotations

import numpy as np

from jgan.errors import JganError


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """k(x, y) = (x.y / d + 1)^3 for all pairs of rows: the kernel of KID (Binkowski et al. 2018)."""
  base = x @ y.T / x.shape[1] + 1.0
  return base * base * base  # Two multiplies, cheaper than numpy's general power.


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased estimate of MMD^2 between the distributions of the rows of x [m, d] and y [n, d].

  MMD^2_u = sum_{i != j} k(x_i, x_j) / (m (m-1)) + sum_{i != j} k(y_i, y_j) / (n (n-1))
            - 2 sum_{i, j} k(x_i, y_j) / (m n)   (Gretton et al. 2012, Lemma 6).
  Leaving out the diagonal k(x_i, x_i) is what removes the positive bias of the plug-in (V-statistic) MMD^2.
  """
  m, n = x.shape[0], y.shape[0]
  k_xx, k_yy = _polynomial_kernel(x, x), _polynomial_kernel(y, y)
  within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
  within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
  return float(within_x + within_y - 2.0 * _polynomial_kernel(x, y).mean())


def kernel_inception_distance(
    real: np.ndarray, fake: np.ndarray, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
  """Kernel Inception Distance: the unbiased MMD^2 with a cubic polynomial kernel, averaged over subsets.

  As in the reference implementation, `num_subsets` times a subset of `min(subset_size, len(real),
  len(fake))` rows is drawn without replacement from each set, and MMD^2_u is computed on the pair; the
  mean and standard deviation over subsets are returned. Subsets bound the cost at O(num_subsets * m^2 d).

  Args:
    real: [N, D] features of real samples.
    fake: [M, D] features of generated samples, from the same feature extractor.
    num_subsets: number of random subset pairs to average over.
    subset_size: rows per subset, capped at the size of the smaller set.
    seed: seed of the subset draws.

  Returns:
    (mean, std) of MMD^2_u over the subsets. Its expectation is 0 when both sets come from one distribution,
    so small negative values occur.
  """
  real, fake = (np.asarray(feats, dtype=np.float64) for feats in (real, fake))
  for name, feats in (('real', real), ('fake', fake)):
    if feats.ndim != 2:
      raise JganError(f'KID needs {name} features of shape [N, D], got {feats.shape}; flatten each feature vector.')
    if feats.shape[0] < 2:
      raise JganError(
          f'KID has {feats.shape[0]} {name} samples but its unbiased estimator needs at least 2; pass more samples.')
  if real.shape[1] != fake.shape[1]:
    raise JganError(
        f'KID got real features of dimension {real.shape[1]} and fake of {fake.shape[1]}; compute both with '
        f'the same feature extractor.')
  if num_subsets < 1 or subset_size < 2:
    raise JganError(
        f'KID needs num_subsets >= 1 and subset_size >= 2, got {num_subsets} and {subset_size}; raise them.')
  size = min(subset_size, real.shape[0], fake.shape[0])
  rng = np.random.default_rng(seed)
  mmds = [
      _mmd2_unbiased(real[rng.choice(real.shape[0], size, replace=False)],
                     fake[rng.choice(fake.shape[0], size, replace=False)])
      for _ in range(num_subsets)
  ]
  return float(np.mean(mmds)), float(np.std(mmds))
