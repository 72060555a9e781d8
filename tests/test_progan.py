"""ProGAN: the fade-in between levels, the equalised learning rate, the minibatch standard deviation, and the
parameter counts of the paper's 1024x1024 networks."""
import math
from types import SimpleNamespace

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from jgan import models
from jgan.errors import JganError
from jgan.models import progan
from jgan.nn.equalized import EqualizedConv, he_constant, minibatch_stddev

SHAPE = (32, 32, 3)  # levels 0..3
TINY = {'z_dim': 8, 'fmap_base': 64, 'fmap_max': 32}  # 32 channels at 4x4 down to 4 at 32x32


@pytest.fixture(scope='module')
def nets():
  """The tiny G and D, their jitted appliers (variables, input, level, alpha), their variables, z and images."""
  generator, discriminator = models.build(models.model_config('progan', **TINY), SHAPE)
  rng = np.random.default_rng(0)
  z, images = jnp.asarray(rng.normal(size=(4, 8)), jnp.float32), jnp.asarray(rng.normal(size=(4, *SHAPE)), jnp.float32)
  # Jitted, from an RBG key: XLA compiles its generator much faster than threefry's, on CPU.
  init = lambda module, x: jax.jit(lambda key: module.init(key, x, None, train=False))(
      jax.random.key(2, impl='unsafe_rbg'))
  apply = lambda module: jax.jit(lambda v, x, level, alpha: module.apply(v, x, level=level, alpha=alpha),
                                 static_argnums=2)
  return SimpleNamespace(generator=generator, discriminator=discriminator, g=apply(generator),
                         d=apply(discriminator), g_vars=init(generator, z), d_vars=init(discriminator, images),
                         z=z, images=images)


def _shift(variables, layer):
  """`variables` with every parameter of `layer` moved by 1."""
  flat = traverse_util.flatten_dict(variables)
  return traverse_util.unflatten_dict({k: v + 1.0 if layer in k else v for k, v in flat.items()})


def _at(images, level):
  """`images` average-pooled down to `level`'s resolution."""
  while images.shape[1] > progan.resolution(level):
    images = progan.downsample(images)
  return images


def test_shapes_at_every_level(nets):
  assert progan.num_levels(SHAPE) == 4
  for level in range(4):
    side = progan.resolution(level)
    fake = nets.g(nets.g_vars, nets.z, level, 0.5)
    chex.assert_shape(fake, (4, side, side, 3))
    logits = nets.d(nets.d_vars, _at(nets.images, level), level, 0.5)
    chex.assert_shape(logits, (4,))
    chex.assert_tree_all_finite([fake, logits])


def test_generator_alpha_0_is_the_previous_level_upsampled(nets):
  for level in (1, 2, 3):
    faded = nets.g(nets.g_vars, nets.z, level, 0.0)
    previous = nets.g(nets.g_vars, nets.z, level - 1, 1.0)
    np.testing.assert_allclose(faded, progan.upsample(previous), rtol=1e-6, atol=1e-6)


def test_generator_alpha_1_uses_the_new_block_only(nets):
  for level in (1, 2, 3):
    moved = _shift(nets.g_vars, f'to_rgb_{level - 1}')
    new = nets.g(nets.g_vars, nets.z, level, 1.0)
    np.testing.assert_array_equal(nets.g(moved, nets.z, level, 1.0), new)
    assert not np.allclose(nets.g(moved, nets.z, level, 0.5), nets.g(nets.g_vars, nets.z, level, 0.5))
  # A Python 1 (not traced) skips the old path and gives the same images.
  stable = jax.jit(lambda v, z: nets.generator.apply(v, z, level=3))(nets.g_vars, nets.z)
  np.testing.assert_allclose(stable, new, rtol=1e-6, atol=1e-6)


def test_discriminator_alpha_0_sees_the_pooled_images_at_the_previous_level(nets):
  for level in (1, 2, 3):
    x = _at(nets.images, level)
    faded = nets.d(nets.d_vars, x, level, 0.0)
    np.testing.assert_allclose(faded, nets.d(nets.d_vars, progan.downsample(x), level - 1, 1.0), rtol=1e-5,
                               atol=1e-6)
    moved = _shift(nets.d_vars, f'from_rgb_{level - 1}')
    np.testing.assert_array_equal(nets.d(moved, x, level, 1.0), nets.d(nets.d_vars, x, level, 1.0))


def test_every_level_has_its_parameters_from_init(nets):
  assert {f'to_rgb_{lv}' for lv in range(4)} <= set(nets.g_vars['params'])
  assert {f'from_rgb_{lv}' for lv in range(4)} <= set(nets.d_vars['params'])
  with pytest.raises(ValueError, match='final level'):
    jax.eval_shape(lambda: nets.generator.init(jax.random.key(0), nets.z, level=2))
  with pytest.raises(ValueError, match='16x16'):
    jax.eval_shape(lambda: nets.discriminator.apply(nets.d_vars, nets.images, level=2))


def test_equalized_conv_scales_its_stored_weight_by_the_he_constant():
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 6, 6, 5)), jnp.float32)
  conv = EqualizedConv(8, 3, gain=math.sqrt(2.0))
  params = conv.init(jax.random.key(1, impl='unsafe_rbg'), x)['params']
  params = {**params, 'bias': jnp.arange(8.0)}
  kernel = params['kernel']
  assert 0.85 < float(jnp.std(kernel)) < 1.15  # stored as N(0, 1): Adam moves every layer alike (Sec. 4.1)
  expected = jax.lax.conv_general_dilated(x, kernel * he_constant(3 * 3 * 5, math.sqrt(2.0)), (1, 1), 'SAME',
                                          dimension_numbers=('NHWC', 'HWIO', 'NHWC')) + jnp.arange(8.0)
  np.testing.assert_allclose(conv.apply({'params': params}, x), expected, rtol=1e-5, atol=1e-5)
  assert math.isclose(he_constant(45, math.sqrt(2.0)), math.sqrt(2.0 / 45))


def _minibatch_stddev_numpy(x, group_size):
  """Sec. 3: the standard deviation of every feature at every pixel over a group of examples, averaged to
  one number per group and appended to each of its examples as a constant feature map. The groups are
  strided, as the reference's reshape makes them: example i belongs to group i mod (N / G)."""
  n = x.shape[0]
  size = min(group_size, n)
  groups = n // size
  stddev = np.empty(n)
  for j in range(groups):
    members = [j + k * groups for k in range(size)]
    stddev[members] = np.sqrt(np.var(x[members], axis=0) + 1e-8).mean()
  return np.concatenate([x, np.broadcast_to(stddev[:, None, None, None], (*x.shape[:3], 1))], axis=-1)


@pytest.mark.parametrize('batch,group_size', [(8, 4), (8, 2), (2, 4)])
def test_minibatch_stddev_matches_the_paper(batch, group_size):
  x = np.random.default_rng(batch + group_size).normal(size=(batch, 4, 4, 6))
  x = x * np.arange(1, batch + 1)[:, None, None, None]  # different spreads, so that the grouping matters
  got = minibatch_stddev(jnp.asarray(x, jnp.float32), group_size)
  np.testing.assert_allclose(got, _minibatch_stddev_numpy(x, group_size), rtol=1e-5, atol=1e-5)


def _count(module, *args):
  variables = jax.eval_shape(lambda: module.init(jax.random.key(0), *args, train=False))
  return sum(math.prod(x.shape) for x in jax.tree.leaves(variables['params']))


def test_parameter_counts_of_the_1024x1024_networks():
  # The reference's networks.py at 1024x1024 RGB with its defaults, counted from its layer shapes: G is the
  # 4x4 dense (512 x 16*512, one bias per channel) and conv, two 3x3 convs per further level with
  # nf = 512, 512, 512, 512, 256, 128, 64, 32, 16, and a toRGB per level; D mirrors it, with a fromRGB per
  # level and the epilogue's 513-channel conv and dense layers. The paper's Table 2: 23.1M each.
  generator, discriminator = models.build(models.model_config('progan'), (1024, 1024, 3))
  g = _count(generator, jnp.zeros((1, 512)), None)
  d = _count(discriminator, jnp.zeros((1, 1024, 1024, 3)), None)
  assert (g, d) == (23_079_115, 23_087_249)
  assert abs(g / 23.1e6 - 1) < 0.005 and abs(d / 23.1e6 - 1) < 0.005


@pytest.mark.parametrize('shape', [(48, 48, 3), (32, 16, 3), (2, 2, 3)])
def test_unsupported_resolutions_are_refused_in_one_line(shape):
  with pytest.raises(JganError, match='config.data.resolution') as error:
    models.build(models.model_config('progan'), shape)
  assert '\n' not in str(error.value)


def test_too_few_feature_maps_for_the_resolution_are_refused():
  with pytest.raises(JganError, match='fmap_base'):
    models.build(models.model_config('progan', fmap_base=256), (1024, 1024, 3))
