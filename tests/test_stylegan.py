"""StyleGAN: shapes, style mixing, truncation in W, AdaIN at init and the noise inputs."""
import math
from types import SimpleNamespace

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from jgan import models
from jgan.models import stylegan
from jgan.nn.equalized import EqualizedConv, mix_styles, truncate

SHAPE = (16, 16, 3)  # 3 resolutions, 6 styles
TINY = {'z_dim': 8, 'w_dim': 8, 'mapping_layers': 2, 'fmap_base': 32, 'fmap_max': 16}


def _key(seed):
  return jax.random.key(seed, impl='unsafe_rbg')  # XLA compiles RBG's sampler much faster than threefry's


@pytest.fixture(scope='module')
def nets():
  """The tiny G, its variables, z, and jitted synthesis from styles: (variables, ws, noise key) -> (images,
  the activations of every layer); the key None means noise_mode='const'."""
  generator, discriminator = models.build(models.model_config('stylegan', **TINY), SHAPE)
  z = jnp.asarray(np.random.default_rng(0).normal(size=(4, 8)), jnp.float32)
  variables = jax.jit(lambda key: generator.init(key, z, None, train=False))(_key(1))

  def synthesise(v, ws, key):
    mode, rngs = ('const', {}) if key is None else ('random', {'noise': key})
    images, state = generator.apply(v, None, ws=ws, noise_mode=mode, rngs=rngs, capture_intermediates=True,
                                    mutable=['intermediates'])
    layers = state['intermediates']['synthesis']
    return images, [layers[f'layer_{i}']['__call__'][0] for i in range(stylegan.num_ws(SHAPE[0]))]

  return SimpleNamespace(generator=generator, discriminator=discriminator, variables=variables, z=z,
                         map=jax.jit(lambda v, z: generator.apply(v, z, method=generator.map)),
                         synthesise=jax.jit(synthesise))


def test_shapes(nets):
  assert [stylegan.num_ws(r) for r in (4, 16, 1024)] == [2, 6, 18]
  w = nets.map(nets.variables, nets.z)
  chex.assert_shape(w, (4, 8))
  images, layers = nets.synthesise(nets.variables, mix_styles(w, w, 6, num_ws=6), None)
  from_z = jax.jit(lambda v, z: nets.generator.apply(v, z, noise_mode='const'))(nets.variables, nets.z)
  np.testing.assert_allclose(from_z, images, rtol=1e-5, atol=1e-5)  # from z: w in every layer
  chex.assert_shape(images, (4, *SHAPE))
  chex.assert_shape(layers, [(4, 4, 4, 16)] * 2 + [(4, 8, 8, 8)] * 2 + [(4, 16, 16, 4)] * 2)
  d_vars = jax.eval_shape(lambda: nets.discriminator.init(jax.random.key(0), images, None, train=False))
  chex.assert_shape(jax.eval_shape(nets.discriminator.apply, d_vars, images), (4,))


def test_mix_styles_switches_from_w1_to_w2_at_the_crossover():
  rng = np.random.default_rng(0)
  w1, w2 = (jnp.asarray(rng.normal(size=(2, 6, 8)), jnp.float32) for _ in range(2))
  mixed = mix_styles(w1, w2, 2)
  np.testing.assert_array_equal(mixed[:, :2], w1[:, :2])
  np.testing.assert_array_equal(mixed[:, 2:], w2[:, 2:])
  per_example = mix_styles(w1, w2, jnp.array([1, 4]))
  np.testing.assert_array_equal(per_example[0], jnp.concatenate([w1[0, :1], w2[0, 1:]]))
  np.testing.assert_array_equal(per_example[1], jnp.concatenate([w1[1, :4], w2[1, 4:]]))
  np.testing.assert_array_equal(mix_styles(w1, w2, 0), w2)
  np.testing.assert_array_equal(mix_styles(w1, w2, 6), w1)
  # One w per example, broadcast to the layers.
  one = mix_styles(w1[:, 0], w2[:, 0], jnp.array([1, 4]), num_ws=6)
  np.testing.assert_array_equal(one[0], jnp.stack([w1[0, 0]] + [w2[0, 0]] * 5))
  np.testing.assert_array_equal(one[1], jnp.stack([w1[1, 0]] * 4 + [w2[1, 0]] * 2))
  with pytest.raises(ValueError, match='num_ws'):
    mix_styles(w1[:, 0], w2[:, 0], 2)


def test_styles_after_the_crossover_leave_the_earlier_layers_alone(nets):
  w1 = nets.map(nets.variables, nets.z)
  other = nets.map(nets.variables, nets.z[::-1])
  images, layers = nets.synthesise(nets.variables, mix_styles(w1, w1, 2, num_ws=6), None)
  mixed_images, mixed_layers = nets.synthesise(nets.variables, mix_styles(w1, other, 2, num_ws=6), None)
  np.testing.assert_array_equal(mixed_layers[1], layers[1])  # the 4x4 layers take w1's styles
  assert not np.allclose(mixed_layers[2], layers[2])
  assert not np.allclose(mixed_images, images)


def test_truncation_psi_0_gives_one_image_for_every_z(nets):
  w = nets.map(nets.variables, nets.z)
  ws, w_avg = mix_styles(w, w, 6, num_ws=6), jnp.mean(w, axis=0)
  np.testing.assert_allclose(truncate(ws, w_avg, 1.0), ws, rtol=1e-6)
  images, _ = nets.synthesise(nets.variables, truncate(ws, w_avg, 0.0), None)
  np.testing.assert_allclose(images, jnp.broadcast_to(images[:1], images.shape), rtol=1e-5, atol=1e-6)
  assert not np.allclose(images, nets.synthesise(nets.variables, ws, None)[0])
  coarse = truncate(ws, w_avg, 0.5, cutoff=4)
  np.testing.assert_allclose(coarse[:, :4], (ws[:, :4] + w_avg) / 2, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(coarse[:, 4:], ws[:, 4:])


def _instance_norm_numpy(x):
  x = np.asarray(x, np.float64)
  centred = x - x.mean(axis=(1, 2), keepdims=True)
  return centred / np.sqrt(np.mean(centred ** 2, axis=(1, 2), keepdims=True) + 1e-8)


def test_adain_at_init_is_the_instance_norm():
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(2.0, 3.0, size=(2, 4, 4, 5)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(2, 8)), jnp.float32)
  adain = stylegan.AdaIN()
  params = adain.init(_key(0), x, w)['params']
  np.testing.assert_allclose(adain.apply({'params': params}, x, jnp.zeros_like(w)), _instance_norm_numpy(x),
                             rtol=1e-4, atol=1e-5)  # The style's scale 1 + 0 and bias 0: the bias starts at 0.
  # The style (s, b) from the affine's bias alone (a zero kernel): (1 + s) instance_norm(x) + b, per channel.
  s, b = np.linspace(-1, 1, 5), np.linspace(2, 3, 5)
  affine = {'kernel': jnp.zeros((8, 10)), 'bias': jnp.asarray(np.concatenate([s, b]), jnp.float32)}
  np.testing.assert_allclose(adain.apply({'params': {'affine': affine}}, x, w),
                             (1 + s) * _instance_norm_numpy(x) + b, rtol=1e-4, atol=1e-5)


def test_a_layer_at_init_outputs_its_activations_instance_normalised():
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 8, 8, 3)), jnp.float32)
  layer = stylegan.StyleLayer(5)
  params = layer.init(_key(0), x, jnp.zeros((2, 8)), 'const')['params']
  conv = EqualizedConv(5, 3, gain=math.sqrt(2.0), use_bias=False).apply({'params': params['conv']}, x)
  np.testing.assert_allclose(layer.apply({'params': params}, x, jnp.zeros((2, 8)), 'const'),
                             _instance_norm_numpy(nn.leaky_relu(conv, 0.2)), rtol=1e-4, atol=1e-5)


def _with_noise_scales(variables, value):
  flat = traverse_util.flatten_dict(variables)
  return traverse_util.unflatten_dict({k: jnp.full_like(v, value) if 'noise_scale' in k else v
                                       for k, v in flat.items()})


def test_noise_scales_start_at_0_and_act_once_set(nets):
  flat = traverse_util.flatten_dict(nets.variables)
  scales = [v for k, v in flat.items() if 'noise_scale' in k]
  assert len(scales) == 6 and all(not np.any(v) for v in scales)
  w = nets.map(nets.variables, nets.z)
  ws = mix_styles(w, w, 6, num_ws=6)
  const, _ = nets.synthesise(nets.variables, ws, None)
  np.testing.assert_allclose(nets.synthesise(nets.variables, ws, _key(1))[0], const, rtol=1e-5, atol=1e-5)
  noisy = _with_noise_scales(nets.variables, 1.0)
  first = nets.synthesise(noisy, ws, _key(1))[0]
  assert not np.allclose(first, nets.synthesise(noisy, ws, _key(2))[0])
  assert not np.allclose(first, const)


def test_parameter_count_of_the_1024x1024_generator():
  # The paper (Sec. 2): 26.2M trainable parameters in the style-based generator at 1024x1024.
  generator, _ = models.build(models.model_config('stylegan'), (1024, 1024, 3))
  variables = jax.eval_shape(lambda: generator.init(jax.random.key(0), jnp.zeros((1, 512)), None, train=False))
  count = sum(math.prod(x.shape) for x in jax.tree.leaves(variables['params']))
  assert count == 26_212_019
  assert abs(count / 26.2e6 - 1) < 0.005
