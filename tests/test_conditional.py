"""Conditioning layers, SNGAN and BigGAN: shapes, parameter counts against the references, and the
properties each block is defined by."""
import math
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import ortho_group

from jgan import models
from jgan.config import load_file
from jgan.engine import init_state
from jgan.errors import JganError
from jgan.games import adversarial, regularizers
from jgan.nn.layers import ConditionalBatchNorm, Projection, SelfAttention
from tests.small import ROOT


def _variables(module, *args, **kwargs):
  return jax.eval_shape(lambda: module.init(jax.random.key(0), *args, **kwargs))


def _count(variables) -> int:
  return sum(math.prod(x.shape) for x in jax.tree.leaves(variables['params']))


def _gan(name, shape, **overrides):
  return models.build(models.model_config(name, **overrides), shape)


def test_the_imagenet128_config_builds_biggan_with_the_reference_parameter_counts():
  # Brock's BigGAN-PyTorch at G_ch = D_ch = 96, 128x128, 1,000 classes, attention at 64: G 70,433,988
  # and D 87,982,370 parameters. The whole training state is built abstractly: no 158M-parameter allocation.
  config = load_file(os.path.join(ROOT, 'configs', 'biggan_imagenet128.py'))
  game = adversarial.build_game(config, (128, 128, 3))
  state = jax.eval_shape(lambda: init_state(game, jax.random.key(0)))
  g, d = (_count({'params': state.params[name]}) for name in ('g', 'd'))
  print('BigGAN-128 parameters', g, d)
  assert abs(g - 70.43e6) / 70.43e6 < 0.005
  assert abs(d - 87.98e6) / 87.98e6 < 0.005
  assert {x.dtype for x in jax.tree.leaves(state.params)} == {jnp.dtype(jnp.float32)}  # bf16 compute only
  assert game.accumulation == 8 and game.sub_batches == 2 and game.ema_decay == 0.9999


def test_sngan_cifar_parameter_counts_match_the_paper_networks():
  # Miyato et al. 2018's CIFAR-10 ResNets (Table 4; chainer-gan-lib): G 4.3M, D 1.06M parameters
  # (unconditional: plain BatchNorm in G and no class embedding in D).
  generator, discriminator = _gan('sngan', (32, 32, 3))
  g = _count(_variables(generator, jnp.zeros((2, 128)), None, train=False))
  d = _count(_variables(discriminator, jnp.zeros((2, 32, 32, 3)), None, train=False))
  print('SNGAN CIFAR parameters', g, d)
  assert abs(g - 4.30e6) / 4.30e6 < 0.01
  assert abs(d - 1.06e6) / 1.06e6 < 0.01


@pytest.mark.parametrize('name,shape', [('biggan', (32, 32, 1)), ('biggan', (64, 64, 3)), ('biggan', (128, 128, 3)),
                                        ('sngan', (32, 32, 3)), ('sngan', (128, 128, 3))], ids=str)
def test_residual_gan_shapes(name, shape):
  generator, discriminator = _gan(name, shape, num_classes=10, g_ch=8, d_ch=8)  # attention needs C >= 8
  z_dim = models.model_config(name).z_dim
  labels = jnp.arange(2) % 10

  def run():
    g_vars = generator.init(jax.random.key(0), jnp.zeros((2, z_dim)), labels, train=False)
    images = generator.apply(g_vars, jnp.zeros((2, z_dim)), labels, train=False)
    d_vars = discriminator.init(jax.random.key(1), images, labels, train=False)
    return images, discriminator.apply(d_vars, images, labels, train=False), g_vars, d_vars

  images, logits, g_vars, d_vars = jax.eval_shape(run)
  chex.assert_shape(images, (2, *shape))
  chex.assert_shape(logits, (2,))
  chex.assert_type([images, logits], jnp.float32)
  assert 'spectral' in d_vars and ('spectral' in g_vars) == (name == 'biggan')


@pytest.mark.slow
def test_bfloat16_compute_keeps_float32_parameters_and_outputs():
  generator, discriminator = _gan('biggan', (32, 32, 1), num_classes=10, g_ch=4, d_ch=4, z_dim=32,
                                  g_attention=(16,), d_attention=(16,), compute_dtype='bfloat16')
  z, labels = jax.random.normal(jax.random.key(0), (4, 32)), jnp.arange(4)
  g_vars = generator.init(jax.random.key(1), z, labels, train=False)
  images, updated = generator.apply(g_vars, z, labels, train=True, mutable=['batch_stats', 'spectral'])
  d_vars = discriminator.init(jax.random.key(2), images, labels, train=False)
  logits = discriminator.apply(d_vars, images, labels, train=False)
  assert {x.dtype for x in jax.tree.leaves(g_vars['params'])} == {jnp.dtype(jnp.float32)}
  assert {x.dtype for x in jax.tree.leaves(updated)} == {jnp.dtype(jnp.float32)}
  chex.assert_type([images, logits], jnp.float32)
  assert np.all(np.isfinite(np.asarray(logits)))


def test_residual_gan_config_errors_are_one_line():
  with pytest.raises(JganError, match='num_classes'):
    _gan('biggan', (32, 32, 3))  # the shared embedding needs classes
  with pytest.raises(JganError, match='z_dim'):
    _gan('biggan', (32, 32, 3), num_classes=10, z_dim=121)
  with pytest.raises(JganError, match='resolution'):
    _gan('sngan', (48, 48, 3))


def test_self_attention_with_zero_gamma_is_the_identity():
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 16))
  block = SelfAttention(spectral_norm=True)
  variables = block.init(jax.random.key(1), x, train=False)
  assert float(variables['params']['gamma']) == 0.0
  y = block.apply(variables, x, train=False)
  chex.assert_equal_shape([x, y])
  np.testing.assert_array_equal(y, x)
  # With gamma = 1 every position attends to the (pooled) others: the output changes everywhere.
  variables = {**variables, 'params': {**variables['params'], 'gamma': jnp.ones(())}}
  changed = np.abs(np.asarray(block.apply(variables, x, train=False) - x)).max(axis=-1)
  assert changed.min() > 0


def test_projection_label_changes_the_logit_by_the_inner_product_term():
  features = jax.random.normal(jax.random.key(0), (4, 32))
  head = Projection(num_classes=5, spectral_norm=True)
  variables = head.init(jax.random.key(1), features, jnp.zeros((4,), jnp.int32), train=False)
  y1, y2 = jnp.array([0, 1, 2, 3]), jnp.array([4, 4, 0, 1])
  # In training the head normalises its weights by the sigma its power iteration stores; both calls start
  # from the same vector u, so they use the same sigma.
  logit1, updated = head.apply(variables, features, y1, train=True, mutable=['spectral'])
  logit2, _ = head.apply(variables, features, y2, train=True, mutable=['spectral'])
  # Eq. 3 of Miyato and Koyama 2018: only <embed(y), phi(x)> depends on y.
  sigma = updated['spectral']['SpectralNorm_1']['embed/embedding/sigma']
  embedding = variables['params']['embed']['embedding'] / sigma
  expected = jnp.sum((embedding[y1] - embedding[y2]) * features, axis=-1)
  np.testing.assert_allclose(logit1 - logit2, expected, rtol=1e-5, atol=1e-5)
  unconditional, _ = head.apply(variables, features, None, train=True, mutable=['spectral'])
  np.testing.assert_allclose(logit1 - unconditional, jnp.sum(embedding[y1] * features, -1), rtol=1e-5, atol=1e-5)


def test_conditional_batchnorm_applies_each_class_gain_and_bias():
  x = jax.random.normal(jax.random.key(0), (6, 4, 4, 3)) * 3.0 + 1.0
  labels = jnp.array([0, 1, 2, 0, 1, 2])
  layer = ConditionalBatchNorm(num_classes=3)
  variables = layer.init(jax.random.key(1), x, labels, train=False)
  gain = jnp.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5], [-1.0, 0.0, 1.0]])
  bias = jnp.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.1, 0.2, 0.3]])
  variables = {**variables, 'params': {'gain': {'embedding': gain}, 'bias': {'embedding': bias}}}
  y, _ = layer.apply(variables, x, labels, train=True, mutable=['batch_stats'])
  normalised = (x - x.mean((0, 1, 2))) / jnp.sqrt(x.var((0, 1, 2)) + 1e-5)  # over the whole batch
  expected = normalised * gain[labels][:, None, None] + bias[labels][:, None, None]
  np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
  # Projected form (BigGAN): a zero condition vector leaves gain 1 and bias 0, plain BatchNorm.
  projected = ConditionalBatchNorm(spectral_norm=True)
  condition = jnp.zeros((6, 7))
  p_vars = projected.init(jax.random.key(2), x, condition, train=False)
  y, _ = projected.apply(p_vars, x, condition, train=True, mutable=['batch_stats', 'spectral'])
  np.testing.assert_allclose(y, normalised, rtol=1e-4, atol=1e-4)


def test_orthogonal_penalty_by_hand_and_zero_for_orthogonal_weights():
  # W = [[1, 2], [0, 1], [1, 0]] (fan-in 3, 2 filters): W^T W = [[2, 2], [2, 5]]; off-diagonal 2 and 2,
  # so ||W^T W * (1 - I)||_F^2 = 8.
  w = jnp.array([[1.0, 2.0], [0.0, 1.0], [1.0, 0.0]])
  np.testing.assert_allclose(regularizers.orthogonal_penalty({'kernel': w}), 8.0, rtol=1e-6)
  # Transposed (3 filters over fan-in 2) takes the smaller-Gram branch: W^T W = [[5, 2, 1], [2, 1, 0],
  # [1, 0, 1]], off-diagonal squares 2 * (4 + 1 + 0) = 10.
  np.testing.assert_allclose(regularizers.orthogonal_penalty({'kernel': w.T}), 10.0, rtol=1e-6)
  q = ortho_group.rvs(8, random_state=0).astype(np.float32)
  conv = q.reshape(2, 2, 2, 8) * 3.0  # orthogonal filters of any norm: no penalty
  params = {'conv': {'kernel': conv, 'bias': jnp.ones(8)}, 'shared_embedding': {'embedding': w}}
  np.testing.assert_allclose(regularizers.orthogonal_penalty(params, exclude=('shared_embedding',)), 0.0,
                             atol=1e-3)
  assert float(regularizers.orthogonal_penalty(params)) == pytest.approx(8.0, abs=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize('name', ['dcgan', 'mlp'])
def test_cgan_label_concatenation_conditions_both_networks(name):
  generator, discriminator = _gan(name, (32, 32, 1), num_classes=10)
  z = jax.random.normal(jax.random.key(0), (2, 100))
  g_vars = generator.init(jax.random.key(1), z, jnp.array([0, 0]), train=False)
  images = generator.apply(g_vars, z, jnp.array([0, 0]), train=False)
  other = generator.apply(g_vars, z, jnp.array([3, 3]), train=False)
  assert float(jnp.abs(images - other).max()) > 0  # the label changes the image
  d_vars = discriminator.init({'params': jax.random.key(2), 'dropout': jax.random.key(3)}, images,
                              jnp.array([0, 0]), train=False)
  logits = [discriminator.apply(d_vars, images, jnp.array([y, y]), train=False) for y in (0, 3)]
  chex.assert_shape(logits, (2,))
  assert float(jnp.abs(logits[0] - logits[1]).max()) > 0
