import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jgan.errors import JganError
from jgan.games import losses

REAL = jnp.array([2.0, -1.0])
FAKE = jnp.array([0.5, -3.0])


def _log_sigmoid(t):
  return np.log(1.0 / (1.0 + np.exp(-np.asarray(t, np.float64))))


def test_minimax_is_the_2014_value_function():
  # D's loss is -(log D(x) + log(1 - D(G(z)))), averaged; G's minimax loss is log(1 - D(G(z))).
  d = -np.mean(_log_sigmoid(REAL)) - np.mean(np.log(1.0 - 1.0 / (1.0 + np.exp(-np.asarray(FAKE)))))
  g = np.mean(np.log(1.0 - 1.0 / (1.0 + np.exp(-np.asarray(FAKE)))))
  loss = losses.get_loss('minimax')
  np.testing.assert_allclose(loss.d(REAL, FAKE), d, rtol=1e-6)
  np.testing.assert_allclose(loss.g(FAKE), g, rtol=1e-6)


def test_non_saturating_generator_keeps_its_gradient_where_minimax_saturates():
  rejected = jnp.array([-10.0])  # D is sure the sample is fake, as early in training
  minimax = jax.grad(lambda f: losses.get_loss('minimax').g(f))(rejected)
  non_saturating = jax.grad(lambda f: losses.get_loss('non_saturating').g(f))(rejected)
  assert abs(float(minimax[0])) < 1e-4
  assert abs(float(non_saturating[0]) + 1.0) < 1e-4
  np.testing.assert_allclose(losses.get_loss('non_saturating').g(FAKE), -np.mean(_log_sigmoid(FAKE)), rtol=1e-6)


@pytest.mark.parametrize('name, d, g', [
    ('wasserstein', (0.5 - 3.0) / 2 - (2.0 - 1.0) / 2, -(0.5 - 3.0) / 2),
    ('hinge', (0.0 + 2.0) / 2 + (1.5 + 0.0) / 2, -(0.5 - 3.0) / 2),
    ('least_squares', 0.5 * (1.0 + 4.0) / 2 + 0.5 * (0.25 + 9.0) / 2, 0.5 * (0.25 + 16.0) / 2),
])
def test_losses_against_hand_computed_values(name, d, g):
  loss = losses.get_loss(name)
  np.testing.assert_allclose(loss.d(REAL, FAKE), d, rtol=1e-6)
  np.testing.assert_allclose(loss.g(FAKE), g, rtol=1e-6)


def test_unknown_loss_names_the_known_ones():
  with pytest.raises(JganError, match='hinge'):
    losses.get_loss('wasserstien')
