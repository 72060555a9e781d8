"""Inception Score (Salimans et al. 2016) from precomputed class probabilities.

Classifier-agnostic: pass the softmax outputs of Inception (the standard score) or of any classifier.
"""
from __future__ import annotations

import numpy as np

from jgan.errors import JganError

# Probabilities are clipped to this before the log, so 0 log 0 counts as 0 instead of nan.
_EPS = 1e-12
# Rows summing further than this from 1 are not probabilities (most often they are logits).
_SUM_TOLERANCE = 1e-3


def inception_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
  """Inception Score of a set of predicted class distributions, as mean and spread over splits.

  IS = exp(E_x KL(p(y|x) || p(y))) with p(y) the mean of p(y|x) over the split (Salimans et al. 2016,
  Sec. 4). The samples are cut into `splits` consecutive parts, the score is computed on each and the mean
  and standard deviation over parts are returned, as in the reference implementation (10 splits of 5,000).

  Args:
    probs: [N, C] class probabilities p(y|x), one row per generated sample; rows sum to 1.
    splits: number of consecutive parts to score separately.

  Returns:
    (mean, std) of the score over the splits; between 1 and C.
  """
  probs = np.asarray(probs, dtype=np.float64)
  if probs.ndim != 2:
    raise JganError(f'inception_score needs probs of shape [N, C], got {probs.shape}; reshape the classifier output.')
  num = probs.shape[0]
  if splits < 1 or num < splits:
    raise JganError(
        f'inception_score has {num} samples for {splits} splits; pass at least as many samples as splits '
        f'(the standard is 50,000 for 10) or fewer splits.')
  row_sums = probs.sum(axis=1)
  if np.any(probs < 0) or np.any(np.abs(row_sums - 1.0) > _SUM_TOLERANCE):
    raise JganError(
        f'inception_score needs probabilities, but rows sum to [{row_sums.min():.4g}, {row_sums.max():.4g}] '
        f'or have negative entries; apply a softmax to the logits first.')
  log_probs = np.log(np.clip(probs, _EPS, None))
  scores = []
  for i in range(splits):
    # Consecutive parts with the reference implementation's boundaries (sizes differ by at most one).
    part, log_part = (a[i * num // splits:(i + 1) * num // splits] for a in (probs, log_probs))
    log_marginal = np.log(np.clip(part.mean(axis=0), _EPS, None))
    kl = np.sum(part * (log_part - log_marginal), axis=1)  # KL(p(y|x) || p(y)) per sample.
    scores.append(np.exp(kl.mean()))
  return float(np.mean(scores)), float(np.std(scores))
