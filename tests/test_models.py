import math

import chex
import jax
import jax.numpy as jnp
import pytest

from jgan import models
from jgan.errors import JganError
from jgan.models import dcgan

SHAPES = [(res, res, c) for res in dcgan.RESOLUTIONS for c in (1, 3)]


def _build(name, shape, **overrides):
  return models.build(models.model_config(name, **overrides), shape)


def _init_and_apply(generator, discriminator, shape, z_dim, batch=2):
  z = jnp.zeros((batch, z_dim))
  labels = jnp.zeros((batch,), jnp.int32)

  def run():
    g_vars = generator.init(jax.random.key(0), z, labels, train=False)
    images = generator.apply(g_vars, z, labels, train=False)
    d_vars = discriminator.init({'params': jax.random.key(1), 'dropout': jax.random.key(2)}, images, labels,
                                train=False)
    return images, discriminator.apply(d_vars, images, labels, train=False)

  return jax.eval_shape(run)  # Shapes and dtypes without computing (the 256x256 models stay cheap).


@pytest.mark.parametrize('shape', SHAPES, ids=lambda s: 'x'.join(map(str, s)))
def test_dcgan_shapes_at_every_resolution(shape):
  generator, discriminator = _build('dcgan', shape, g_width=8, d_width=8)
  images, logits = _init_and_apply(generator, discriminator, shape, z_dim=100)
  chex.assert_shape(images, (2, *shape))
  chex.assert_shape(logits, (2,))
  chex.assert_type([images, logits], jnp.float32)


@pytest.mark.parametrize('shape', [(32, 32, 1), (64, 64, 3), (28, 28, 1)], ids=str)
def test_mlp_gan_shapes(shape):
  generator, discriminator = _build('mlp', shape, g_hidden=(32,), d_hidden=(16,))
  images, logits = _init_and_apply(generator, discriminator, shape, z_dim=100)
  chex.assert_shape(images, (2, *shape))
  chex.assert_shape(logits, (2,))


@pytest.mark.slow
def test_generators_output_in_the_data_range():
  for name in ('dcgan', 'mlp'):
    generator, _ = _build(name, (32, 32, 1))
    z = jax.random.normal(jax.random.key(0), (4, 100)) * 10.0
    variables = generator.init(jax.random.key(1), z, None, train=False)
    images = generator.apply(variables, z, None, train=False)
    assert float(jnp.max(jnp.abs(images))) <= 1.0


def _count(module, *args):
  variables = jax.eval_shape(lambda: module.init({'params': jax.random.key(0), 'dropout': jax.random.key(1)},
                                                 *args, train=False))
  return sum(math.prod(x.shape) for x in jax.tree.leaves(variables['params']))


def test_dcgan_parameter_counts_match_the_pytorch_reference():
  # PyTorch's DCGAN (nz=100, ngf=ndf=64, 64x64 RGB, as in ../shared/bench/torch_dcgan.py): G has
  # 3,576,704 parameters and D 2,765,568, BatchNorm's weight and bias included.
  generator, discriminator = _build('dcgan', (64, 64, 3))
  assert _count(generator, jnp.zeros((1, 100)), None) == 3_576_704
  assert _count(discriminator, jnp.zeros((1, 64, 64, 3)), None) == 2_765_568


def test_mlp_gan_parameter_count_matches_the_2014_architecture():
  # Goodfellow et al.'s MNIST nets: G 100-1200-1200-784; D maxout 240x5, 240x5, then one sigmoid unit.
  generator, discriminator = _build('mlp', (28, 28, 1))
  g = (100 * 1200 + 1200) + (1200 * 1200 + 1200) + (1200 * 784 + 784)
  d = (784 * 1200 + 1200) + (240 * 1200 + 1200) + (240 + 1)
  assert _count(generator, jnp.zeros((1, 100)), None) == g
  assert _count(discriminator, jnp.zeros((1, 28, 28, 1)), None) == d


@pytest.mark.parametrize('shape', [(48, 48, 1), (32, 16, 1), (8, 8, 1)])
def test_dcgan_rejects_unsupported_resolutions_in_one_line(shape):
  with pytest.raises(JganError, match='config.data.resolution') as error:
    _build('dcgan', shape)
  assert '\n' not in str(error.value)


def test_unknown_model_and_model_key_are_named():
  with pytest.raises(JganError, match='dcgan'):
    models.get_family('dcgann')
  with pytest.raises(JganError, match='g_width'):
    models.model_config('dcgan', g_widht=3)
