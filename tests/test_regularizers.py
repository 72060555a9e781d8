import jax
import jax.numpy as jnp
import numpy as np

from jgan.games import regularizers


def test_gradient_penalty_of_a_linear_critic_is_hand_computable():
  # For D(x) = <w, x> the gradient is w at every interpolate, so the penalty is (||w|| - 1)^2.
  w = jnp.array([[[0.3], [1.2]], [[-0.5], [2.0]]])  # [2, 2, 1] image-shaped weights, ||w|| = 2.4062
  critic = lambda x: jnp.sum(x * w, axis=(1, 2, 3))
  real = jax.random.normal(jax.random.key(0), (8, 2, 2, 1))
  fake = jax.random.normal(jax.random.key(1), (8, 2, 2, 1))
  penalty = regularizers.gradient_penalty(critic, real, fake, jax.random.key(2))
  expected = (np.sqrt(0.09 + 1.44 + 0.25 + 4.0) - 1.0) ** 2
  np.testing.assert_allclose(penalty, expected, rtol=1e-5)


def test_gradient_penalty_is_zero_for_a_unit_norm_critic_and_differentiable():
  critic = lambda x, w: jnp.sum(x * w, axis=(1, 2, 3))
  w = jnp.ones((1, 2, 2, 1)) / 2.0  # ||w|| = 1
  real, fake = jnp.ones((4, 2, 2, 1)), jnp.zeros((4, 2, 2, 1))
  penalty = lambda w: regularizers.gradient_penalty(lambda x: critic(x, w), real, fake, jax.random.key(0))
  assert float(penalty(w)) < 1e-10
  grad = jax.grad(penalty)(2.0 * w)  # ||2w|| = 2: d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
  np.testing.assert_allclose(grad, 2.0 * 1.0 * (2.0 * w) / 2.0, rtol=1e-5)


def test_clip_weights_bounds_every_parameter():
  params = {'a': jnp.array([-1.0, 0.005, 2.0]), 'b': {'c': jnp.array([[0.02]])}}
  clipped = regularizers.clip_weights(params, 0.01)
  np.testing.assert_array_equal(clipped['a'], np.float32([-0.01, 0.005, 0.01]))
  np.testing.assert_array_equal(clipped['b']['c'], np.float32([[0.01]]))
