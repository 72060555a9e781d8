"""The image-to-image families (Pix2Pix, CycleGAN, SRGAN) and their layers: shapes, the PatchGAN's receptive
field, the 3x3 up-convolution and pixel shuffle against their definitions, and parameter counts."""
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jgan import models
from jgan.errors import JganError
from jgan.models import pix2pix
from jgan.nn.layers import norm_layer

# Parameters drawn with the 'rbg' generator: XLA's CPU backend compiles threefry's sampling slowly, once per
# initialiser, and these networks' inits compile 3-5x faster with 'rbg'.
_KEYS = {'params': jax.random.key(0, impl='rbg'), 'dropout': jax.random.key(1, impl='rbg')}


def _build(name, shape, **overrides):
  return models.build(models.model_config(name, **overrides), shape)


def _apply(module, *args, train):
  """Initialises and applies `module`, updating BatchNorm's statistics when training."""
  variables = module.init(_KEYS, *args, train=False)
  if not train:
    return module.apply(variables, *args, train=False)
  return module.apply(variables, *args, train=True, rngs={'dropout': _KEYS['dropout']}, mutable=['batch_stats'])[0]


def _shapes(generator, discriminator, inputs, train, conditional=False):
  """The shapes and dtypes of G's images from `inputs` and of D's logits on them (given `inputs` too if
  conditional), traced without compiling: XLA's CPU compiler takes seconds for each of these networks."""
  def run(inputs):
    images = _apply(generator, inputs, None, train=train)
    return images, _apply(discriminator, images, inputs if conditional else None, train=train)

  return jax.eval_shape(run, inputs)


def _count(module, *args):
  variables = jax.eval_shape(lambda: module.init(_KEYS, *args, train=False))
  return sum(math.prod(x.shape) for x in jax.tree.leaves(variables['params']))


@pytest.mark.parametrize('norm, train', [('batch', True), ('instance', False)])
def test_pix2pix_shapes(norm, train):
  generator, discriminator = _build('pix2pix', (32, 32, 3), input_channels=1, g_width=4, d_width=4, norm=norm)
  # D sees (input, output). G runs in the dropout test, D in the receptive field's.
  images, logits = _shapes(generator, discriminator, jnp.zeros((2, 32, 32, 1)), train, conditional=True)
  chex.assert_shape(images, (2, 32, 32, 3))
  chex.assert_shape(logits, (2, 32 // 8 - 2, 32 // 8 - 2))  # three halvings, then two 4x4 stride-1 convs
  chex.assert_type([images, logits], jnp.float32)


def test_pix2pix_dropout_is_noise_only_in_training():
  # At 64x64 (six halvings) one decoder block has dropout, the reference's num_downs - 5.
  generator, _ = _build('pix2pix', (64, 64, 3), g_width=2, norm='instance')
  inputs = jax.random.normal(jax.random.key(0), (1, 64, 64, 3))
  variables = jax.jit(lambda: generator.init(_KEYS, inputs, train=False))()
  apply = jax.jit(lambda key, train: generator.apply(variables, inputs, train=train, rngs={'dropout': key}),
                  static_argnums=1)
  keys = jax.random.split(_KEYS['dropout'])
  assert not np.allclose(apply(keys[0], True), apply(keys[1], True))
  np.testing.assert_array_equal(apply(keys[0], False), apply(keys[1], False))


def test_cyclegan_shapes():
  generator, discriminator = _build('cyclegan', (32, 32, 3), g_width=4, d_width=4, res_blocks=2)
  images, logits = _shapes(generator, discriminator, jnp.zeros((2, 32, 32, 3)), train=True)
  chex.assert_shape(images, (2, 32, 32, 3))
  chex.assert_shape(logits, (2, 2, 2))  # unconditional
  chex.assert_type([images, logits], jnp.float32)


@pytest.mark.parametrize('scale', [2, 4])
def test_srgan_shapes(scale):
  generator, discriminator = _build('srgan', (32, 32, 3), scale=scale, g_width=4, res_blocks=2, d_width=4, d_dense=8)
  images, logits = _shapes(generator, discriminator, jnp.zeros((2, 32 // scale, 32 // scale, 3)), train=True)
  chex.assert_shape(images, (2, 32, 32, 3))
  chex.assert_shape(logits, (2,))
  chex.assert_type([images, logits], jnp.float32)


@pytest.mark.parametrize('name, overrides, side, out', [
    ('pix2pix', {}, 64, 64), ('cyclegan', {'res_blocks': 1}, 36, 36), ('srgan', {'res_blocks': 1}, 9, 36)])
def test_generators_take_inputs_whose_sides_are_multiples_of_input_multiple(name, overrides, side, out):
  # Built for 32x32 targets; jgan.translate feeds user images whose sides are multiples of input_multiple.
  assert side % models.get_family(name).input_multiple((32, 32, 3)) == 0
  generator, _ = _build(name, (32, 32, 3), **overrides)
  images = jax.eval_shape(lambda x: _apply(generator, x, None, train=False), jnp.zeros((1, side, side, 3)))
  chex.assert_shape(images, (1, out, out, 3))


@pytest.mark.parametrize('name, shape, overrides', [
    ('pix2pix', (48, 48, 3), {}), ('pix2pix', (4, 4, 3), {}), ('pix2pix', (32, 16, 3), {}),
    ('cyclegan', (30, 30, 3), {}), ('cyclegan', (32, 16, 3), {}),
    ('srgan', (32, 32, 3), {'scale': 3}), ('srgan', (40, 40, 3), {}), ('srgan', (32, 16, 3), {}),
])
def test_unsupported_shapes_are_rejected_in_one_line(name, shape, overrides):
  with pytest.raises(JganError, match=r'config\.(data\.resolution|model\.scale)') as error:
    _build(name, shape, **overrides)
  assert '\n' not in str(error.value)


@pytest.mark.parametrize('d_layers, field', [(1, 16), (2, 34), (3, 70)])
def test_patchgan_receptive_field(d_layers, field):
  assert pix2pix.receptive_field(d_layers) == field
  # Empirically: one logit's gradient w.r.t. the input is nonzero on exactly a field x field square. Without
  # a norm that mixes pixels, with LeakyReLU's nonzero slope and random weights, nothing inside it cancels.
  discriminator = pix2pix.Discriminator(image_shape=(96, 96, 1), d_width=4, norm='none', d_layers=d_layers)
  images = jax.random.normal(jax.random.key(0), (1, 96, 96, 1))
  variables = jax.jit(lambda: discriminator.init(_KEYS, images, train=False))()
  centre = (96 // 2 ** d_layers - 2) // 2
  grad = jax.jit(jax.grad(lambda x: discriminator.apply(variables, x, train=False)[0, centre, centre]))(images)
  rows, cols = np.nonzero(np.asarray(grad[0, :, :, 0]))
  assert 0 < rows.min() and rows.max() < 95 and 0 < cols.min() and cols.max() < 95  # away from the padding
  assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1, len(rows)) == (field, field, field * field)


def test_instance_norm_has_no_parameters_and_normalises_each_example_and_channel():
  layer = norm_layer('instance', train=True)
  x = 3.0 + 2.0 * np.random.default_rng(0).normal(size=(2, 8, 8, 5)).astype(np.float32)
  y, variables = jax.jit(lambda x: layer.init_with_output(_KEYS['params'], x))(x)
  assert not jax.tree.leaves(variables)
  np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-5)
  np.testing.assert_allclose(y.var(axis=(1, 2)), 1.0, atol=1e-3)


def _conv(cin, cout, kernel, bias=True):
  return cin * cout * kernel * kernel + (cout if bias else 0)


def test_parameter_counts_match_the_reference_implementations():
  # junyanz/pytorch-CycleGAN-and-pix2pix's networks.py prints these rounded ("54.414 M", "2.769 M",
  # "11.378 M", "2.765 M"). The exact figures are the sums below of its layers' shapes; instantiating its
  # networks in PyTorch gives the same. BatchNorm has 2C parameters, InstanceNorm(affine=False) none.
  def patchgan(channels, batch_norm):  # ndf 64, n_layers 3; the inner convolutions have a bias iff no BN
    pairs = ((64, 128), (128, 256), (256, 512))  # (in, out) of the convolutions followed by a norm
    inner = sum(_conv(a, b, 4, not batch_norm) + 2 * b * batch_norm for a, b in pairs)
    return _conv(channels, 64, 4) + inner + _conv(512, 1, 4)

  # unet_256 with BatchNorm: (outer_nc, inner_nc) of the blocks between the outermost and the innermost.
  blocks = [(64, 128), (128, 256), (256, 512)] + [(512, 512)] * 3
  unet_256 = (_conv(3, 64, 4, False) + _conv(2 * 64, 3, 4)  # outermost: no norms, a bias on the up-conv
              + sum(_conv(o, i, 4, False) + 2 * i + _conv(2 * i, o, 4, False) + 2 * o for o, i in blocks)
              + _conv(512, 512, 4, False) + _conv(512, 512, 4, False) + 2 * 512)  # innermost: no norm down
  resnet_9blocks = (_conv(3, 64, 7) + _conv(64, 128, 3) + _conv(128, 256, 3) + 9 * 2 * _conv(256, 256, 3)
                    + _conv(256, 128, 3) + _conv(128, 64, 3) + _conv(64, 3, 7))
  assert (unet_256, patchgan(6, True), resnet_9blocks, patchgan(3, False)) == (
      54_413_955, 2_768_705, 11_378_179, 2_764_737)

  image = jnp.zeros((1, 256, 256, 3))
  generator, discriminator = _build('pix2pix', (256, 256, 3))
  assert _count(generator, image) == unet_256
  assert _count(discriminator, image, image) == patchgan(6, True)
  generator, discriminator = _build('cyclegan', (256, 256, 3))
  assert _count(generator, image) == resnet_9blocks
  assert _count(discriminator, image) == patchgan(3, False)


def test_srresnet_parameter_count():
  # Ledig et al.'s SRResNet (B = 16, 64 channels, x4), with a bias only on the convolutions not followed by
  # BatchNorm and one PReLU slope per layer: 1,547,350 parameters.
  srresnet = (_conv(3, 64, 9) + 1  # conv9 + PReLU
              + 16 * (2 * _conv(64, 64, 3, False) + 2 * 2 * 64 + 1)  # residual blocks
              + _conv(64, 64, 3, False) + 2 * 64  # conv + BN before the long skip
              + 2 * (_conv(64, 256, 3) + 1)  # two x2 sub-pixel upsamplings
              + _conv(64, 3, 9))
  assert srresnet == 1_547_350
  generator, _ = _build('srgan', (96, 96, 3))
  assert _count(generator, jnp.zeros((1, 24, 24, 3))) == srresnet
