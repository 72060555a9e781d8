"""jgan.nn.resample: each resolution-changing convolution equals its plain form (the strided or transposed
convolution, upfirdn2d's definition), gradients included where a hand-written adjoint or a second
differentiation is involved."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jgan.nn.resample import (
  DownConv4x4,
  UpConv3x3,
  UpConv4x4,
  blur_down_conv_3x3,
  down_conv_4x4,
  fir_downsample_2x,
  fir_upsample_2x,
  pixel_shuffle,
  upsample_conv_3x3,
)
from tests.small import upfirdn

_DIMENSIONS = ('NHWC', 'HWIO', 'NHWC')


def test_upconv_is_the_transposed_stride_2_convolution():
  # A transposed convolution is, by definition, the adjoint (VJP) of the strided convolution with the
  # same kernel: PyTorch's ConvTranspose2d(4, stride=2, padding=1) is the VJP of Conv2d(4, 2, 1).
  x = jax.random.normal(jax.random.key(0), (2, 5, 3, 6))
  layer = UpConv4x4(4)
  params = layer.init(jax.random.key(1), x)
  kernel = params['params']['kernel']  # [4, 4, in=6, out=4]
  conv = lambda u: lax.conv_general_dilated(u, jnp.swapaxes(kernel, 2, 3), (2, 2), ((1, 1), (1, 1)),
                                            dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  _, vjp = jax.vjp(conv, jnp.zeros((2, 10, 6, 4)))
  expected = vjp(x)[0]
  out = layer.apply(params, x)
  chex.assert_shape(out, (2, 10, 6, 4))
  np.testing.assert_allclose(out, expected, atol=1e-5)


@pytest.mark.parametrize('layer_class', [UpConv4x4, UpConv3x3])
def test_upconv_gradients_are_the_transposed_convolutions(layer_class):
  # The sub-pixel form has a hand-written adjoint (_phase_sums): its gradients with respect to the input and the
  # kernel must be those of the transposed convolution, written as the VJP of the strided convolution.
  x = jax.random.normal(jax.random.key(0), (2, 5, 3, 6))
  layer = layer_class(4, use_bias=False)
  kernel = layer.init(jax.random.key(1), x)['params']['kernel']
  weights = jax.random.normal(jax.random.key(2), (2, 10, 6, 4))

  def reference(x, kernel):
    conv = lambda u: lax.conv_general_dilated(u, jnp.swapaxes(kernel, 2, 3), (2, 2), ((1, 1), (1, 1)),
                                              dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    return jax.vjp(conv, jnp.zeros((2, 10, 6, 4)))[1](x)[0]

  ours = lambda x, kernel: layer.apply({'params': {'kernel': kernel}}, x)
  objective = lambda f: lambda x, kernel: jnp.sum(f(x, kernel) * weights)
  expected = jax.grad(objective(reference), argnums=(0, 1))(x, kernel)
  chex.assert_trees_all_close(jax.grad(objective(ours), argnums=(0, 1))(x, kernel), expected, atol=1e-5)


@pytest.mark.parametrize('shape', [(2, 5, 3, 6), (1, 4, 4, 2)])
def test_upconv3x3_is_the_transposed_stride_2_convolution(shape):
  # ConvTranspose2d(3, stride=2, padding=1, output_padding=1) is the VJP of Conv2d(3, 2, 1) on a 2H x 2W
  # input: the output padding is the last row and column, which that convolution reads but never centres on.
  batch, height, width, _ = shape
  layer = UpConv3x3(4, use_bias=False)

  @jax.jit
  def run(x):
    out, params = layer.init_with_output(jax.random.key(1), x)
    kernel = params['params']['kernel']  # [3, 3, in, out]
    conv = lambda u: lax.conv_general_dilated(u, jnp.swapaxes(kernel, 2, 3), (2, 2), ((1, 1), (1, 1)),
                                              dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    _, vjp = jax.vjp(conv, jnp.zeros((batch, 2 * height, 2 * width, 4)))
    # Equivalently: the input dilated by 2, padded by 1 before and 2 after, correlated with the flipped kernel.
    transposed = lax.conv_transpose(x, kernel[::-1, ::-1], (2, 2), ((1, 2), (1, 2)),
                                    dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    return out, vjp(x)[0], transposed

  out, adjoint, transposed = run(jax.random.normal(jax.random.key(0), shape))
  chex.assert_shape(out, (batch, 2 * height, 2 * width, 4))
  np.testing.assert_allclose(out, adjoint, atol=1e-5)
  np.testing.assert_allclose(out, transposed, atol=1e-5)


def test_pixel_shuffle_follows_pytorch_indexing():
  r = 3
  x = np.random.default_rng(0).normal(size=(2, 4, 5, 2 * r * r)).astype(np.float32)
  expected = np.zeros((2, 4 * r, 5 * r, 2), np.float32)
  for h, w, c, i, j in np.ndindex(4, 5, 2, r, r):
    expected[:, h * r + i, w * r + j, c] = x[:, h, w, c * r * r + i * r + j]
  np.testing.assert_array_equal(pixel_shuffle(jnp.asarray(x), r), expected)


def test_down_conv_4x4_is_the_strided_convolution():
  x = jax.random.normal(jax.random.key(0), (2, 8, 6, 3))
  kernel = jax.random.normal(jax.random.key(1), (4, 4, 3, 5))
  conv = lambda x, k: lax.conv_general_dilated(x, k, (2, 2), ((1, 1), (1, 1)), dimension_numbers=('NHWC', 'HWIO',
                                                                                                    'NHWC'))
  np.testing.assert_allclose(down_conv_4x4(x, kernel), conv(x, kernel), rtol=1e-5, atol=1e-5)
  # And its gradients, through the input gradient too (WGAN-GP's double backward).
  penalty = lambda f: jax.grad(lambda k: jnp.sum(jax.grad(lambda x: jnp.sum(jnp.tanh(f(x, k))))(x) ** 2))(kernel)
  np.testing.assert_allclose(penalty(down_conv_4x4), penalty(conv), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('channels', [3, 8])  # XLA's convolution on images, the patch form on features
def test_down_conv_layer_is_the_strided_convolution(channels):
  x = jax.random.normal(jax.random.key(0), (2, 8, 6, channels))
  layer = DownConv4x4(5)
  params = layer.init(jax.random.key(1), x)
  expected = lax.conv_general_dilated(x, params['params']['kernel'], (2, 2), ((1, 1), (1, 1)),
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  np.testing.assert_allclose(layer.apply(params, x), expected, atol=1e-5)


def test_fir_resampling_is_upfirdn2d():
  x = jax.random.normal(jax.random.key(0), (2, 6, 6, 3))
  # The reference's upsample2d and downsample2d paddings for a 4-tap filter and factor 2.
  np.testing.assert_allclose(fir_upsample_2x(x), upfirdn(x, up=2, pad=(2, 1), gain=4.0), atol=1e-5)
  np.testing.assert_allclose(fir_downsample_2x(x), upfirdn(x, down=2, pad=(1, 1)), atol=1e-5)


def test_blur_down_conv_is_blur_then_strided_convolution():
  keys = jax.random.split(jax.random.key(3), 2)
  x = jax.random.normal(keys[0], (2, 8, 8, 5))
  kernel = jax.random.normal(keys[1], (3, 3, 5, 4))
  # The reference's conv2d_resample with down=2: upfirdn2d's blur with padding 2, then a stride-2 convolution.
  expected = lax.conv_general_dilated(upfirdn(x, pad=(2, 2)), kernel, (2, 2), 'VALID', dimension_numbers=_DIMENSIONS)
  out = blur_down_conv_3x3(x, kernel)
  chex.assert_shape(out, (2, 4, 4, 4))
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_upsample_conv_is_fir_upsampling_then_a_convolution():
  # The FIR upsampling of x and of its zero border, then a 'VALID' 3x3 convolution: what the phase form computes
  # without building the upsampled image.
  keys = jax.random.split(jax.random.key(4), 2)
  x = jax.random.normal(keys[0], (2, 5, 4, 3))
  kernel = jax.random.normal(keys[1], (3, 3, 3, 6))
  upsampled = fir_upsample_2x(jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))))[:, 1:-1, 1:-1]
  expected = lax.conv_general_dilated(upsampled, kernel, (1, 1), 'VALID', dimension_numbers=_DIMENSIONS)
  out = upsample_conv_3x3(x, kernel)
  chex.assert_shape(out, (2, 10, 8, 6))
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
