"""The truncation trick's two forms and the sweep tool's inputs (its run on a trained model: test_evaluate)."""
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jgan import truncation
from jgan.errors import JganError
from jgan.games.latents import truncated_latents
from tests.small import ROOT


@pytest.mark.parametrize('threshold', [0.1, 0.5, 2.0])
def test_resampling_keeps_every_component_within_the_threshold(threshold):
  z = truncated_latents(jax.random.key(0), (1000, 64), threshold, 'resample')
  assert z.shape == (1000, 64)
  assert float(jnp.abs(z).max()) <= threshold
  assert float(z.std()) < 1.0


def test_resampling_at_one_has_the_truncated_normal_std():
  # A standard normal truncated to [-1, 1] has variance 1 - 2 phi(1) / (2 Phi(1) - 1) = 0.2894: std 0.5379.
  z = truncated_latents(jax.random.key(1), (1000, 64), 1.0, 'resample')
  assert float(z.std()) == pytest.approx(0.5379, rel=0.03)


def test_norm_clipping_moves_only_the_rows_beyond_tau():
  key, tau = jax.random.key(2), 8.0  # Norms of 64-d standard normals lie around 8: about half are clipped.
  z = np.asarray(truncated_latents(key, (1000, 64), tau, 'norm'))
  plain = np.asarray(jax.random.normal(key, (1000, 64)))
  norms = np.linalg.norm(plain, axis=1)
  inside = norms < tau
  assert 100 < inside.sum() < 900
  assert np.linalg.norm(z, axis=1).max() <= tau * (1 + 1e-6)
  np.testing.assert_array_equal(z[inside], plain[inside])
  np.testing.assert_allclose(np.linalg.norm(z[~inside], axis=1), tau, rtol=1e-5)
  np.testing.assert_allclose(z[~inside] / tau, plain[~inside] / norms[~inside, None], rtol=1e-5, atol=1e-6)


def test_unknown_forms_are_named():
  with pytest.raises(JganError, match='resample, norm'):
    truncated_latents(jax.random.key(0), (2, 4), 1.0, 'clip')


@pytest.mark.slow
def test_the_truncation_tool_names_a_missing_run_in_one_line(tmp_path):
  for args in ([f'--workdir={tmp_path}'], []):
    result = subprocess.run([sys.executable, '-m', 'jgan.truncation', *args], capture_output=True, text=True,
                            timeout=300, cwd=ROOT)
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith('error: '), result.stderr


def test_thresholds_are_positive_numbers_or_none():
  assert truncation.parse_thresholds(['none', '2', '0.5', 'inf']) == [None, 2.0, 0.5, None]
  for bad in (['0'], ['-1'], ['nan'], ['two'], []):
    with pytest.raises(JganError, match='--thresholds'):
      truncation.parse_thresholds(bad)
