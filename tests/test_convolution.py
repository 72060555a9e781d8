"""jgan.nn.convolution.conv2d_same: XLA's convolution with the weight gradient written as one matrix product."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jgan.nn.convolution import _weight_gradient_by_shifts, conv2d_same


def _lax_conv(x, kernel):
  return lax.conv_general_dilated(x, kernel, (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def _penalised_loss(conv):
  """A loss with R1's shape: the squared input gradient of a nonlinear function of the convolution, plus the
  convolution itself, so its gradient runs the convolution's rule once and twice."""
  def loss(x, kernel, weights):
    input_gradient = jax.grad(lambda x: jnp.sum(jnp.tanh(conv(x, kernel)) * weights))(x)
    return jnp.sum(input_gradient ** 2) + jnp.sum(conv(x, kernel) * weights)
  return jax.jit(jax.grad(loss, argnums=(0, 1)))


@pytest.mark.parametrize('size, channels', [(1, 3), (1, 5), (3, 5), (5, 5)])  # 1x1 from RGB: a product
def test_value_and_first_and_second_gradients_are_the_convolutions(size, channels):
  keys = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(keys[0], (2, 9, 7, channels))  # H != W and odd sizes: the shifts' bookkeeping is per axis
  kernel = 0.3 * jax.random.normal(keys[1], (size, size, channels, 6))
  weights = jax.random.normal(keys[2], (2, 9, 7, 6))
  np.testing.assert_allclose(conv2d_same(x, kernel), _lax_conv(x, kernel), rtol=1e-6, atol=1e-6)
  ours, reference = _penalised_loss(conv2d_same)(x, kernel, weights), _penalised_loss(_lax_conv)(x, kernel, weights)
  for got, expected in zip(ours, reference, strict=True):
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * float(jnp.max(jnp.abs(expected))))


def test_weight_gradient_by_shifts_is_xlas():
  keys = jax.random.split(jax.random.key(1), 3)
  x = jax.random.normal(keys[0], (3, 6, 10, 4))
  cotangent = jax.random.normal(keys[1], (3, 6, 10, 8))
  kernel = jax.random.normal(keys[2], (3, 3, 4, 8))
  expected = jax.vjp(lambda k: _lax_conv(x, k), kernel)[1](cotangent)[0]
  got = _weight_gradient_by_shifts(x, cotangent, 3)
  assert got.shape == (3, 3, 4, 8)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_bfloat16_gradients_keep_the_dtypes():
  x = jnp.ones((1, 4, 4, 2), jnp.bfloat16)
  kernel = jnp.ones((3, 3, 2, 3), jnp.bfloat16)
  # Under jit, as train steps run: there lax.platform_dependent's branches must agree on dtypes.
  loss = lambda x, k: jnp.sum(conv2d_same(x, k).astype(jnp.float32))  # noqa: E731
  dx, dkernel = jax.jit(jax.grad(loss, argnums=(0, 1)))(x, kernel)
  assert dx.dtype == dkernel.dtype == jnp.bfloat16
  # Every kernel tap sees the 4x4 ones image shifted: a corner tap meets 3 x 3 pixels, the centre 4 x 4.
  np.testing.assert_array_equal(dkernel[:, :, 0, 0].astype(jnp.float32), [[9, 12, 9], [12, 16, 12], [9, 12, 9]])


def test_an_even_kernel_is_refused():
  with pytest.raises(ValueError, match='odd square kernel'):
    conv2d_same(jnp.ones((1, 4, 4, 1)), jnp.ones((2, 2, 1, 1)))

