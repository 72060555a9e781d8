"""Gaussian Parzen-window log-likelihood of test data under a generator's samples.

The likelihood estimate of Goodfellow et al. 2014 (Sec. 5, Table 1), following Breuleux et al. 2011: a
Gaussian kernel density with one isotropic bandwidth sigma is fitted to generated samples, sigma is chosen by
the mean log-likelihood of a validation split, and the test set's mean log-likelihood is reported with its
standard error. The estimate is known to be poor in high dimension (Theis et al. 2016); it is here to
reproduce the paper's table.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jgan.errors import JganError

# The bandwidth grid for pixels in [0, 1]: ten values from 0.1 to 1, evenly spaced in log.
SIGMAS = tuple(float(s) for s in np.logspace(-1.0, 0.0, 10))


def _flatten(name: str, x: np.ndarray, min_rows: int, why: str) -> np.ndarray:
  """x as a float64 [N, D] array of flattened rows; a JganError if it has fewer than min_rows rows."""
  x = np.asarray(x, dtype=np.float64)
  if x.ndim < 1 or x.shape[0] < min_rows:
    raise JganError(
        f'Parzen window got {x.shape[0] if x.ndim else 0} {name} but {why} needs at least {min_rows}; pass more.')
  return x.reshape(x.shape[0], -1)


def _log_likelihoods(samples: np.ndarray, points: np.ndarray, sigmas: Sequence[float], batch_size: int) -> np.ndarray:
  """log p_sigma(x) of each point under the kernel density of `samples`, for each sigma: [len(sigmas), P].

  log p(x) = logsumexp_i(-||x - s_i||^2 / (2 sigma^2)) - log N - (d/2) log(2 pi sigma^2), the log of the mean
  of N isotropic Gaussians N(x; s_i, sigma^2 I) (Breuleux et al. 2011; Goodfellow et al. 2014, Sec. 5).
  """
  if samples.shape[1] != points.shape[1]:
    raise JganError(
        f'Parzen window got samples of {samples.shape[1]} values and points of {points.shape[1]}; pass images '
        f'of the same shape.')
  if batch_size < 1 or not sigmas or min(sigmas) <= 0:
    raise JganError(f'Parzen window needs batch_size >= 1 and sigmas > 0, got {batch_size} and {sigmas}; fix them.')
  num, dim = samples.shape
  sample_sq = np.sum(samples * samples, axis=1)
  out = np.empty((len(sigmas), points.shape[0]))
  for start in range(0, points.shape[0], batch_size):
    batch = points[start:start + batch_size]
    # Expanded distances in float64: the cancellation error, ~1e-16 ||x||^2 (~1e-13 for 784 pixels), stays
    # far below sigma^2, where float32's ~1e-4 would not for sigma ~ 0.1. Computed once for all sigmas.
    sq = np.maximum(np.sum(batch * batch, axis=1)[:, None] + sample_sq[None, :] - 2.0 * (batch @ samples.T), 0.0)
    for i, sigma in enumerate(sigmas):
      logits = -sq / (2.0 * sigma**2)
      peak = logits.max(axis=1)
      # Shifting by the row maximum makes the largest term exp(0) = 1, so the sum neither overflows nor is 0.
      log_sum = peak + np.log(np.sum(np.exp(logits - peak[:, None]), axis=1))
      out[i, start:start + batch.shape[0]] = log_sum - np.log(num) - 0.5 * dim * np.log(2.0 * np.pi * sigma**2)
  return out


def parzen_log_likelihood(
    samples: np.ndarray, points: np.ndarray, sigma: float, batch_size: int = 1000
) -> tuple[float, float]:
  """Mean log-likelihood of points under a Gaussian Parzen window on generated samples.

  Args:
    samples: [N, ...] generated samples (e.g. images), flattened to [N, D]; the kernel centres.
    points: [P, ...] test points of the same shape as the samples, P >= 2.
    sigma: the kernel's standard deviation, in the units of the data (e.g. pixels in [0, 1]).
    batch_size: points per block; memory is about 16 * batch_size * N bytes.

  Returns:
    (mean, standard error of the mean) of log p(x) over the points, in nats; the paper's Table 1 reports
    these for 10,000 samples and the test set.
  """
  samples = _flatten('samples', samples, 1, 'the kernel density')
  points = _flatten('points', points, 2, 'a standard error')
  lls = _log_likelihoods(samples, points, [float(sigma)], batch_size)[0]
  return float(lls.mean()), float(lls.std(ddof=1) / np.sqrt(lls.shape[0]))


def select_sigma(
    samples: np.ndarray, validation: np.ndarray, sigmas: Sequence[float] = SIGMAS, batch_size: int = 1000
) -> float:
  """The bandwidth of the grid under which the validation points have the highest mean log-likelihood.

  Goodfellow et al. 2014 (Sec. 5) choose sigma by cross-validation on a validation set; the samples' distances
  to the validation points are computed once and reused for every sigma.

  Args:
    samples: [N, ...] generated samples, flattened to [N, D].
    validation: [V, ...] validation points of the same shape, held out from the test set.
    sigmas: candidate bandwidths, all > 0.
    batch_size: validation points per block; memory is about 16 * batch_size * N bytes.

  Returns:
    The sigma of `sigmas` with the best mean validation log-likelihood.
  """
  sigmas = [float(s) for s in sigmas]
  samples = _flatten('samples', samples, 1, 'the kernel density')
  validation = _flatten('validation points', validation, 1, 'a mean')
  mean_lls = _log_likelihoods(samples, validation, sigmas, batch_size).mean(axis=1)
  return sigmas[int(np.argmax(mean_lls))]
