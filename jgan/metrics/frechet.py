"""Frechet distance between Gaussians fitted to two sets of features (the formula behind FID).

Feature-agnostic: the same code serves the digits-classifier distance and Inception FID.
"""
from __future__ import annotations

import numpy as np


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Fits a Gaussian to a set of feature vectors.

  Args:
    features: [N, D] array, one feature vector per row.

  Returns:
    (mean [D], covariance [D, D]), both float64.
  """
  features = np.asarray(features, dtype=np.float64)
  return features.mean(axis=0), np.atleast_2d(np.cov(features, rowvar=False))


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
  """Symmetric square root of a symmetric PSD matrix; tiny negative eigenvalues from round-off become 0."""
  eigvals, eigvecs = np.linalg.eigh(matrix)
  return (eigvecs * np.sqrt(np.clip(eigvals, 0.0, None))) @ eigvecs.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
  """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

  d^2 = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})  (Dowson & Landau 1982; Heusel et al. 2017, eq. 6).

  Args:
    mu1: mean [D] of the first Gaussian.
    sigma1: covariance [D, D] of the first Gaussian.
    mu2: mean [D] of the second Gaussian.
    sigma2: covariance [D, D] of the second Gaussian.

  Returns:
    The squared Frechet distance (non-negative up to round-off), as a float.
  """
  mu1, mu2 = (np.atleast_1d(np.asarray(mu, np.float64)) for mu in (mu1, mu2))
  sigma1, sigma2 = (np.atleast_2d(np.asarray(sigma, np.float64)) for sigma in (sigma1, sigma2))
  dim = mu1.shape[0]
  if mu2.shape != (dim,) or sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
    raise ValueError(
        f'Frechet statistics have mismatched feature dimensions (mu1 {mu1.shape}, sigma1 {sigma1.shape}, '
        f'mu2 {mu2.shape}, sigma2 {sigma2.shape}); compute both from features of the same extractor.')
  # S1 S2 is not symmetric, so scipy's sqrtm can return complex values and lose precision. Its
  # eigenvalues equal those of the symmetric PSD matrix S1^{1/2} S2 S1^{1/2} (AB and BA share eigenvalues,
  # with A = S1^{1/2}, B = S1^{1/2} S2), so Tr((S1 S2)^{1/2}) is the sum of their square roots.
  sqrt_sigma1 = _sqrt_psd(sigma1)
  middle = sqrt_sigma1 @ sigma2 @ sqrt_sigma1
  middle = (middle + middle.T) / 2  # Symmetrise away round-off so eigvalsh sees an exactly symmetric matrix.
  tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh(middle), 0.0, None)).sum()
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def frechet_distance_from_features(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
  """Frechet distance between Gaussians fitted to two sets of features.

  Args:
    feats_a: [N, D] features of the first set (e.g. real images).
    feats_b: [M, D] features of the second set (e.g. generated images).

  Returns:
    The squared Frechet distance (non-negative up to round-off), as a float.
  """
  for name, feats in (('feats_a', feats_a), ('feats_b', feats_b)):
    if np.shape(feats)[0] < 2:
      raise ValueError(
          f'{name} has {np.shape(feats)[0]} samples but a covariance needs at least 2; pass more samples.')
  return frechet_distance(*gaussian_stats(feats_a), *gaussian_stats(feats_b))
