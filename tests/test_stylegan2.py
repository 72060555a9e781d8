"""StyleGAN2: the modulated convolution against eq. 1-3 (per example) and its unit output variance, the FIR
resampling against upfirdn2d's definition, config F's parameter counts against the reference's, shapes, and
the generator's style inputs (num_ws, style mixing, truncation, noise)."""
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jgan import models
from jgan.errors import JganError
from jgan.models import stylegan2
from jgan.nn import equalized
from tests.small import upfirdn

_DIMENSIONS = ('NHWC', 'HWIO', 'NHWC')
_TINY = {'z_dim': 8, 'w_dim': 8, 'mapping_layers': 2, 'channel_base': 128, 'channel_max': 16, 'mbstd_group': 2}


def _build(resolution, **overrides):
  return models.build(models.model_config('stylegan2', **overrides), (resolution, resolution, 3))


def _per_example(x, weight, styles, demodulate, up):
  """Eq. 1-3 literally: each example's kernel modulated (and demodulated), one convolution per example."""
  outputs = []
  for b in range(x.shape[0]):
    w = weight * styles[b][None, None, :, None]  # eq. 1
    if demodulate:  # eq. 2-3
      w = w / jnp.sqrt(jnp.sum(jnp.square(w), axis=(0, 1, 2)) + 1e-8)
    if up:  # the reference: a stride-2 transposed convolution (a convolution of the zero-inserted input), blur
      p = weight.shape[0] - 1
      y = lax.conv_general_dilated(x[b:b + 1], w, (1, 1), ((p, p), (p, p)), lhs_dilation=(2, 2),
                                   dimension_numbers=_DIMENSIONS)
      y = upfirdn(y, pad=(1, 1), gain=4.0)
    else:
      y = lax.conv_general_dilated(x[b:b + 1], w, (1, 1), 'SAME', dimension_numbers=_DIMENSIONS)
    outputs.append(y)
  return jnp.concatenate(outputs)


@pytest.mark.parametrize('kernel_size, demodulate, up', [(3, True, False), (3, False, False), (3, True, True),
                                                         (3, False, True), (1, False, False)])
def test_modulated_conv_is_per_example_convolution(kernel_size, demodulate, up):
  keys = jax.random.split(jax.random.key(1), 3)
  x = jax.random.normal(keys[0], (3, 6, 6, 5))
  weight = jax.random.normal(keys[1], (kernel_size, kernel_size, 5, 4)) / 5
  styles = 1.0 + 0.5 * jax.random.normal(keys[2], (3, 5))
  out = jax.jit(stylegan2.modulated_conv, static_argnums=(3, 4))(x, weight, styles, demodulate, up)
  chex.assert_shape(out, (3, 12, 12, 4) if up else (3, 6, 6, 4))
  expected = jax.jit(_per_example, static_argnums=(3, 4))(x, weight, styles, demodulate, up)
  np.testing.assert_allclose(out, expected, atol=1e-5)


def test_demodulation_restores_unit_variance():
  # Sec. 2.2: with i.i.d. unit-variance inputs the output's variance is sum_ik w''^2 = 1, whatever the styles.
  keys = jax.random.split(jax.random.key(2), 3)
  x = jax.random.normal(keys[0], (8, 16, 16, 32))
  weight = jax.random.normal(keys[1], (3, 3, 32, 32))
  styles = jnp.exp(jax.random.normal(keys[2], (8, 32)))  # scales spread over about two orders of magnitude
  out = stylegan2.modulated_conv(x, weight, styles)[:, 1:-1, 1:-1]  # the border pixels see zero padding
  assert 0.9 < float(jnp.var(out)) < 1.1 and abs(float(jnp.mean(out))) < 0.05


def _count(module, *args):
  variables = jax.eval_shape(lambda: module.init(jax.random.key(0), *args, train=False))
  return sum(math.prod(x.shape) for x in jax.tree.leaves(variables['params']))


def test_config_f_parameter_counts():
  """stylegan2-ada-pytorch's train.py summary at 1024x1024x3 for its 'auto' config (the same networks at that
  resolution but for 2 mapping layers) prints D at 29,012,513 and G at 28,794,124; the 'stylegan2' config's
  8 mapping layers add 6 x 262,656 to G: 30,370,060, as counting the reference code gives. Exact: the noise
  strengths are parameters in both, and the reference's buffers (w_avg, noise_const, filters) not."""
  generator, discriminator = _build(1024)
  assert _count(generator, jnp.zeros((1, 512)), None) == 28_794_124 + 6 * 262_656 == 30_370_060
  assert _count(discriminator, jnp.zeros((1, 1024, 1024, 3)), None) == 29_012_513


@pytest.mark.parametrize('resolution', [8, 16, 32])
def test_shapes(resolution):
  generator, discriminator = _build(resolution, **_TINY)
  z = jnp.zeros((4, _TINY['z_dim']))

  def run(z):
    keys = {'params': jax.random.key(0), 'noise': jax.random.key(1)}
    images = generator.apply(generator.init(keys, z, None), z, None, rngs={'noise': keys['noise']})
    return images, discriminator.apply(discriminator.init(keys, images, None), images, None)

  images, logits = jax.eval_shape(run, z)
  chex.assert_shape([images, logits], [(4, resolution, resolution, 3), (4,)])
  chex.assert_type([images, logits], jnp.float32)


@pytest.fixture(scope='module')
def tiny():
  """A tiny G at 8x8 and its variables, initialised once, compiled ('rbg' keys: quicker to compile on CPU)."""
  generator, _ = _build(8, **_TINY)
  init = jax.jit(lambda key: generator.init(key, jnp.zeros((1, _TINY['z_dim'])), None))
  return generator, init(jax.random.key(0, impl='rbg'))


def test_num_ws_is_what_the_synthesis_consumes(tiny):
  assert [stylegan2.num_ws(r) for r in (8, 16, 1024)] == [4, 6, 18]  # the reference's [B, 18, 512] at 1024
  generator, variables = tiny
  ws = jax.random.normal(jax.random.key(1), (2, stylegan2.num_ws(8), _TINY['w_dim']))
  # Every w reaches the image: each slot's gradient is non-zero.
  grads = jax.jit(jax.grad(lambda ws: jnp.sum(generator.apply(variables, None, ws=ws, noise_mode='const') ** 2)))(ws)
  assert bool(jnp.all(jnp.sum(jnp.abs(grads), axis=(0, 2)) > 0))
  with pytest.raises(ValueError, match='takes 4 ws'):
    generator.apply(variables, None, ws=jnp.concatenate([ws, ws[:, :1]], axis=1), noise_mode='const')


def test_style_mixing_takes_w1_before_the_crossover(tiny):
  generator, variables = tiny
  z = jax.random.normal(jax.random.key(0), (2, _TINY['z_dim']))
  w = generator.apply(variables, z, method='map')
  w1, w2 = (jnp.broadcast_to(w[i], (3, _TINY['w_dim'])) for i in (0, 1))
  ws = equalized.mix_styles(w1, w2, jnp.array([0, 2, 4]), num_ws=stylegan2.num_ws(8))  # num_ws is 4
  chex.assert_shape(ws, (3, 4, _TINY['w_dim']))
  np.testing.assert_array_equal(ws[1], jnp.stack([w[0], w[0], w[1], w[1]]))
  mixed = jax.jit(lambda ws: generator.apply(variables, None, ws=ws, noise_mode='const'))(ws)
  alone = jax.jit(lambda z: generator.apply(variables, z, noise_mode='const'))(z)
  np.testing.assert_allclose(mixed[0], alone[1], atol=1e-5)  # crossover 0: w2 throughout
  np.testing.assert_allclose(mixed[2], alone[0], atol=1e-5)  # crossover num_ws: w1 throughout
  assert min(float(jnp.max(jnp.abs(mixed[1] - alone[i]))) for i in (0, 1)) > 1e-4


def test_truncation_to_the_average_gives_one_image(tiny):
  generator, variables = tiny
  w_of = jax.jit(lambda z: generator.apply(variables, z, method='map'))
  image_of = jax.jit(lambda ws: generator.apply(variables, None, ws=ws, noise_mode='const'))
  z = jax.random.normal(jax.random.key(0), (4, _TINY['z_dim']))
  w = w_of(z)
  w_avg = jnp.mean(w_of(jax.random.normal(jax.random.key(1), (4, _TINY['z_dim']))), axis=0)
  to_ws = lambda w: jnp.broadcast_to(w[:, None], (4, stylegan2.num_ws(8), w.shape[-1]))
  images = image_of(to_ws(equalized.truncate(w, w_avg, 0.0)))
  np.testing.assert_allclose(images, jnp.broadcast_to(images[:1], images.shape), atol=1e-6)
  untruncated = jax.jit(lambda z: generator.apply(variables, z, noise_mode='const'))(z)  # w to every layer
  np.testing.assert_allclose(untruncated, image_of(to_ws(w)), atol=1e-5)
  assert float(jnp.std(untruncated[0] - untruncated[1])) > 1e-3


def test_noise_comes_from_the_noise_rng(tiny):
  generator, variables = tiny
  z = jax.random.normal(jax.random.key(0), (2, _TINY['z_dim']))
  # The noise strengths start at 0 (no noise); give them some.
  params = jax.tree_util.tree_map_with_path(
      lambda path, x: jnp.ones_like(x) if path[-1].key == 'noise_strength' else x, variables['params'])
  sample = jax.jit(lambda key, mode: generator.apply({'params': params}, z, noise_mode=mode, rngs={'noise': key}),
                   static_argnums=1)
  a, b = sample(jax.random.key(2), 'random'), sample(jax.random.key(3), 'random')
  np.testing.assert_array_equal(a, sample(jax.random.key(2), 'random'))
  assert float(jnp.max(jnp.abs(a - b))) > 1e-3
  np.testing.assert_array_equal(sample(jax.random.key(2), 'const'), sample(jax.random.key(3), 'const'))


@pytest.mark.parametrize('shape', [(4, 4, 3), (12, 12, 3), (16, 32, 3)])
def test_check_rejects_other_sides(shape):
  with pytest.raises(JganError, match='power of two from 8'):
    stylegan2.check(models.model_config('stylegan2'), shape)


def test_bf16_runs_the_highest_resolutions_only():
  dtypes = [stylegan2.block_dtype(r, 1024, 4) for r in (4, 64, 128, 1024)]
  assert dtypes == [jnp.float32, jnp.float32, jnp.bfloat16, jnp.bfloat16]  # the reference's num_fp16_res=4
  assert stylegan2.block_dtype(4, 32, 8) == jnp.float32 and stylegan2.block_dtype(8, 32, 8) == jnp.bfloat16
  assert all(stylegan2.block_dtype(r, 1024, 0) == jnp.float32 for r in (4, 1024))


@pytest.mark.slow
def test_bf16_layers_match_float32_and_clamping_bounds_them():
  z = jax.random.normal(jax.random.key(0), (4, _TINY['z_dim']))
  key = jax.random.key(2, impl='rbg')

  def outputs(**precision):
    generator, discriminator = _build(32, **_TINY, **precision)
    g_vars = generator.init(key, z, None)
    images = generator.apply(g_vars, z, None, noise_mode='const')
    return images, discriminator.apply(discriminator.init(key, images, None), images, None)

  (f32_images, f32_logits), (bf16_images, bf16_logits) = jax.jit(
      lambda: (outputs(), outputs(num_bf16_res=2)))()  # 16x16 and 32x32 in bfloat16, the same parameters
  chex.assert_type([bf16_images, bf16_logits], jnp.float32)
  scale = float(jnp.std(f32_images))
  assert 0 < float(jnp.max(jnp.abs(bf16_images - f32_images))) < 0.05 * scale
  np.testing.assert_allclose(bf16_logits, f32_logits, rtol=0.05, atol=0.05 * float(jnp.std(f32_logits)))
  # Each resolution's ToRGB is clamped to [-c, c] and the FIR upsampling averages: |image| <= 4c at 32x32.
  clamped, _ = jax.jit(lambda: outputs(num_bf16_res=2, conv_clamp=0.01))()
  assert float(jnp.max(jnp.abs(clamped))) <= 0.04 + 1e-6
