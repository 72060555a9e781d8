"""Tests of the sample-quality metrics on precomputed features: IS, KID, precision/recall and Parzen windows."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.spatial

from jgan.errors import JganError
from jgan.metrics import inception_score, kid, parzen, precision_recall


def _raises_one_line(fn, match: str) -> None:
  with pytest.raises(JganError, match=match) as info:
    fn()
  assert '\n' not in str(info.value)


def test_is_of_balanced_one_hot_predictions_is_the_number_of_classes():
  num_classes = 10
  # Labels cycle through the classes, so each of the 10 consecutive splits holds each class 10 times:
  # p(y) is uniform in every split and KL(one-hot || uniform) = log C for every sample.
  probs = np.eye(num_classes)[np.arange(1000) % num_classes]
  mean, std = inception_score.inception_score(probs)
  assert mean == pytest.approx(num_classes, abs=1e-6)
  assert std < 1e-6


def test_is_of_identical_predictions_is_one():
  row = np.random.default_rng(0).dirichlet(np.ones(7))
  mean, std = inception_score.inception_score(np.tile(row, (100, 1)))
  assert mean == pytest.approx(1.0, abs=1e-9) and std < 1e-9


def test_is_matches_the_formula_per_split():
  probs = np.random.default_rng(1).dirichlet(np.full(5, 0.3), size=60)
  direct = []
  for part in (probs[:30], probs[30:]):
    marginal = part.mean(axis=0)
    direct.append(math.exp(np.mean([np.sum(p * np.log(p / marginal)) for p in part])))
  mean, std = inception_score.inception_score(probs, splits=2)
  assert mean == pytest.approx(np.mean(direct), rel=1e-9)
  assert std == pytest.approx(np.std(direct), rel=1e-6)


def test_is_errors():
  _raises_one_line(lambda: inception_score.inception_score(np.full((5, 3), 1 / 3)), 'inception_score has 5 samples')
  _raises_one_line(lambda: inception_score.inception_score(np.ones((20, 3)), splits=2), 'apply a softmax')


def _mmd2_unbiased_by_hand(x: np.ndarray, y: np.ndarray) -> float:
  """Gretton et al. 2012, Lemma 6, written out pair by pair with k(a, b) = (a.b / d + 1)^3."""
  k = lambda a, b: (float(np.dot(a, b)) / len(a) + 1.0) ** 3
  m, n = len(x), len(y)
  xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
  yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
  xy = sum(k(a, b) for a in x for b in y) / (m * n)
  return xx + yy - 2.0 * xy


@pytest.mark.parametrize('num_real', [4, 5])
def test_kid_matches_the_unbiased_mmd_by_hand(num_real):
  rng = np.random.default_rng(num_real)
  real, fake = rng.normal(size=(num_real, 3)), rng.normal(size=(4, 3)) + 0.5
  mean, std = kid.kernel_inception_distance(real, fake, num_subsets=1)
  # The subset size is min(1000, 5, 4) = 4: with 5 real rows one is left out at random, so the value must be
  # the hand-computed MMD^2_u of one of the 4-row subsets (the estimator does not depend on row order).
  candidates = [_mmd2_unbiased_by_hand(real[list(rows)], fake) for rows in itertools.combinations(range(num_real), 4)]
  assert min(abs(mean - c) for c in candidates) < 1e-12
  assert std == 0.0


def test_kid_of_one_distribution_is_near_zero():
  real, fake = np.random.default_rng(2).normal(size=(2, 2000, 16))
  mean, std = kid.kernel_inception_distance(real, fake, num_subsets=50)
  # Under the null MMD^2_u has expectation 0; the mean over subsets of these 2,000 rows fluctuates about as
  # much as one estimate on all of them, less than the spread between 1,000-row subsets that std measures.
  assert abs(mean) < 3.0 * std
  assert abs(mean) < 1e-2


def test_kid_is_unbiased_where_the_plug_in_mmd_is_not():
  rng = np.random.default_rng(3)
  draws, size = 400, 20
  unbiased, plug_in = [], []
  for seed in range(draws):  # Fresh data on every draw: subsets of one data set would share its error.
    x, y = rng.normal(size=(2, size, 4))
    unbiased.append(kid.kernel_inception_distance(x, y, num_subsets=1, seed=seed)[0])
    k = lambda a, b: (a @ b.T / 4 + 1.0) ** 3
    plug_in.append(k(x, x).mean() + k(y, y).mean() - 2.0 * k(x, y).mean())  # The V-statistic keeps k(x_i, x_i).
  for values, biased in ((np.array(unbiased), False), (np.array(plug_in), True)):
    z = values.mean() / (values.std(ddof=1) / np.sqrt(draws))
    # 4 standard errors: a false failure of an unbiased estimator has probability ~6e-5. The plug-in
    # estimate's bias, 2 (E k(x, x) - E k(x, x')) / size, puts it tens of standard errors above 0.
    assert (z > 10.0) if biased else (abs(z) < 4.0)


def test_kid_of_shifted_distributions_is_large():
  rng = np.random.default_rng(4)
  real, fake = rng.normal(size=(1000, 16)), rng.normal(size=(1000, 16)) + 1.0
  mean, std = kid.kernel_inception_distance(real, fake, num_subsets=10, subset_size=500)
  assert mean > 1.0 and mean > 20.0 * std


def test_kid_errors():
  _raises_one_line(lambda: kid.kernel_inception_distance(np.zeros((1, 3)), np.zeros((5, 3))), 'at least 2')
  _raises_one_line(lambda: kid.kernel_inception_distance(np.zeros((5, 3)), np.zeros((5, 4))), 'dimension 3')


def test_precision_recall_of_a_set_with_itself_is_one():
  feats = np.random.default_rng(5).normal(size=(300, 8))
  assert precision_recall.precision_recall(feats, feats, batch_size=64) == (1.0, 1.0)


def test_precision_recall_of_far_apart_clusters_is_zero():
  rng = np.random.default_rng(6)
  real, fake = rng.normal(size=(200, 4)), rng.normal(size=(150, 4)) + 100.0
  assert precision_recall.precision_recall(real, fake) == (0.0, 0.0)


@pytest.mark.parametrize('batch_size', [1, 2, 1000])
@pytest.mark.parametrize(('k', 'expected'), [(1, (1 / 3, 1 / 4)), (2, (1 / 3, 1.0))])
def test_precision_recall_by_hand_in_one_dimension(k, expected, batch_size):
  real = np.array([[0.0], [1.0], [2.0], [3.0]])
  fake = np.array([[4.0], [5.5], [30.0]])
  # k = 1. Real radii: 1 each. Fake radii: 4 -> 1.5, 5.5 -> 1.5, 30 -> 24.5.
  #   Precision: 4 is at distance 1 from 3, on the boundary of its ball (counted); 5.5 and 30 are not: 1/3.
  #   Recall: only 3 lies in a fake ball (distance 1 <= 1.5 from 4); 0, 1, 2 do not, 30's ball stops at 5.5: 1/4.
  # k = 2. Real radii: 0 -> 2, 1 -> 1, 2 -> 1, 3 -> 2. Fake radii: 4 -> 26, 5.5 -> 24.5, 30 -> 26.
  #   Precision: 4 is within 2 of 3; 5.5 is 2.5 from 3 and 3.5 from 2: 1/3. Recall: 4's ball covers all: 1.
  assert precision_recall.precision_recall(real, fake, k=k, batch_size=batch_size) == pytest.approx(expected)


def test_precision_recall_matches_brute_force():
  rng, k = np.random.default_rng(7), 3
  real, fake = rng.normal(size=(120, 2)), rng.normal(size=(90, 2)) * 1.5 + 0.5

  def manifold_contains(centres, queries):
    radii = np.sort(scipy.spatial.distance.cdist(centres, centres), axis=1)[:, k]  # Column 0 is the point itself.
    return (scipy.spatial.distance.cdist(queries, centres) <= radii[None, :]).any(axis=1).mean()

  expected = (manifold_contains(real, fake), manifold_contains(fake, real))
  assert 0.0 < expected[0] < 1.0 and 0.0 < expected[1] < 1.0
  assert precision_recall.precision_recall(real, fake, k=k, batch_size=32) == pytest.approx(expected)


def test_precision_recall_errors():
  _raises_one_line(lambda: precision_recall.precision_recall(np.zeros((3, 2)), np.ones((10, 2))), 'at least 4')
  _raises_one_line(lambda: precision_recall.precision_recall(np.zeros((10, 2)), np.ones((10, 3))), 'dimension 2')


def test_parzen_matches_the_smoothed_gaussian():
  rng = np.random.default_rng(8)
  dim, scale, sigma = 4, 1.0, 1.0
  samples, points = rng.normal(size=(10000, dim)) * scale, rng.normal(size=(2000, dim)) * scale
  mean, sem = parzen.parzen_log_likelihood(samples, points, sigma)
  # The kernel density of samples from N(0, s^2 I) has expectation N(0, v I), v = s^2 + sigma^2. At
  # a point it differs from that density by a relative ~sqrt((E[K^2] / E[K]^2 - 1) / N) ~ 0.01 (the ratio
  # is about (2 / sqrt(3))^d = 1.8 here), less on average over points (0.004 over 10 sample draws): 0.05 is safe.
  var = scale**2 + sigma**2
  exact = -0.5 * dim * np.log(2 * np.pi * var) - np.sum(points**2, axis=1) / (2 * var)
  assert mean == pytest.approx(exact.mean(), abs=0.05)
  # Over fresh test points the expectation is -d/2 log(2 pi v) - d s^2 / (2 v); the points' own sampling
  # error is what the standard error measures, so allow 4 of those on top.
  closed_form = -0.5 * dim * np.log(2 * np.pi * var) - dim * scale**2 / (2 * var)
  assert 0.0 < sem < 0.05
  assert mean == pytest.approx(closed_form, abs=4.0 * sem + 0.05)


def test_parzen_matches_the_formula_by_hand():
  rng = np.random.default_rng(9)
  samples, points, sigma = rng.normal(size=(3, 2)), rng.normal(size=(4, 2)), 0.7
  lls = [
      math.log(sum(math.exp(-np.sum((x - s) ** 2) / (2 * sigma**2)) for s in samples) / 3)
      - math.log(2 * math.pi * sigma**2)  # (d/2) log(2 pi sigma^2) with d = 2.
      for x in points
  ]
  mean, sem = parzen.parzen_log_likelihood(samples, points, sigma, batch_size=3)
  assert mean == pytest.approx(np.mean(lls), rel=1e-12)
  assert sem == pytest.approx(np.std(lls, ddof=1) / 2, rel=1e-9)


def test_select_sigma_finds_the_best_bandwidth():
  # One sample at the origin makes the density N(0, sigma^2 I), whose mean log-likelihood on points of
  # N(0, t^2 I) peaks at sigma^2 = mean ||x||^2 / d ~ t^2 (within ~1% here); the grid steps by 29%.
  target = parzen.SIGMAS[4]
  validation = np.random.default_rng(10).normal(size=(1000, 2, 4)) * target
  assert parzen.select_sigma(np.zeros((1, 2, 4)), validation) == target
  best = max(parzen.SIGMAS, key=lambda s: parzen.parzen_log_likelihood(np.zeros((1, 8)), validation, s)[0])
  assert best == target


def test_parzen_errors():
  _raises_one_line(lambda: parzen.parzen_log_likelihood(np.zeros((5, 3)), np.zeros((1, 3)), 0.2), 'at least 2')
  _raises_one_line(lambda: parzen.parzen_log_likelihood(np.zeros((5, 3)), np.zeros((4, 2)), 0.2), 'same shape')
  _raises_one_line(lambda: parzen.select_sigma(np.zeros((5, 3)), np.zeros((4, 3)), sigmas=[0.0]), 'sigmas > 0')
