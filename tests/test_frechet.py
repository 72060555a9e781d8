"""Tests of the Frechet distance (jgan.metrics.frechet)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from jgan.metrics import frechet


def test_shifted_gaussians_give_squared_mean_distance():
  rng = np.random.default_rng(0)
  n, dim = 20000, 8
  mu = np.full(dim, 0.5)  # ||mu||^2 = 2.
  fd = frechet.frechet_distance_from_features(rng.normal(size=(n, dim)), rng.normal(size=(n, dim)) + mu)
  # The estimate's bias is ~2d/n (means) + (d^2 + d)/(2n) (covariances), under 0.003, and the cross
  # term 2 mu.(m1 - m2) has standard deviation 2 ||mu|| sqrt(2/n) ~ 0.03: 0.15 is about five sigma.
  assert fd == pytest.approx(np.sum(mu**2), abs=0.15)


def test_set_against_itself_is_zero():
  feats = np.random.default_rng(1).normal(size=(500, 16)) * 3.0 + 1.0
  assert abs(frechet.frechet_distance_from_features(feats, feats)) < 1e-6


@pytest.mark.parametrize('dim', [1, 4, 32])
def test_matches_scipy_sqrtm_reference(dim):
  rng = np.random.default_rng(dim)
  a, b = rng.normal(size=(dim, dim)), rng.normal(size=(dim, dim))
  sigma1, sigma2 = a @ a.T + 1e-3 * np.eye(dim), b @ b.T + 1e-3 * np.eye(dim)
  mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
  covmean = np.real(scipy.linalg.sqrtm(sigma1 @ sigma2))
  reference = np.sum((mu1 - mu2) ** 2) + np.trace(sigma1 + sigma2 - 2.0 * covmean)
  assert frechet.frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(reference, rel=1e-6)


def test_gaussian_stats_are_float64_mean_and_covariance():
  feats = np.random.default_rng(2).normal(size=(100, 3)).astype(np.float32)
  mu, sigma = frechet.gaussian_stats(feats)
  assert mu.dtype == np.float64 and sigma.dtype == np.float64
  np.testing.assert_allclose(sigma, np.cov(feats.astype(np.float64), rowvar=False))


def test_mismatched_feature_dimensions_raise():
  with pytest.raises(ValueError, match='mismatched feature dimensions'):
    frechet.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
  with pytest.raises(ValueError, match='mismatched feature dimensions'):
    frechet.frechet_distance_from_features(np.zeros((10, 3)), np.zeros((10, 4)))


def test_too_few_samples_raise():
  with pytest.raises(ValueError, match='at least 2'):
    frechet.frechet_distance_from_features(np.zeros((1, 3)), np.zeros((10, 3)))
