import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jgan.nn.layers import BatchNorm, Maxout, spectral


def test_batch_norm_matches_flax():
  # jgan's BatchNorm keeps Flax's variables and arithmetic (it only avoids reshaping the statistics).
  x = 3.0 + 2.0 * jax.random.normal(jax.random.key(0), (4, 5, 3, 6))
  ours, flax_bn = BatchNorm(use_running_average=False), nn.BatchNorm(use_running_average=False, momentum=0.9)
  variables = ours.init(jax.random.key(1), x)
  chex.assert_trees_all_equal_structs(variables, flax_bn.init(jax.random.key(1), x))
  variables = {**variables, 'params': {'scale': jnp.linspace(0.5, 2.0, 6), 'bias': jnp.linspace(-1.0, 1.0, 6)}}
  y, updated = ours.apply(variables, x, mutable=['batch_stats'])
  expected, expected_updated = flax_bn.apply(variables, x, mutable=['batch_stats'])
  np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
  chex.assert_trees_all_close(updated, expected_updated, rtol=1e-6)
  variables = {**variables, **updated}
  evaluated = BatchNorm(use_running_average=True).apply(variables, x)
  np.testing.assert_allclose(evaluated, nn.BatchNorm(use_running_average=True).apply(variables, x), rtol=1e-5,
                             atol=1e-5)


def test_maxout_takes_the_max_over_pieces():
  layer = Maxout(features=3, pieces=4)
  x = jax.random.normal(jax.random.key(0), (5, 7))
  params = layer.init(jax.random.key(1), x)
  dense = params['params']['Dense_0']
  pieces = (x @ dense['kernel'] + dense['bias']).reshape(5, 3, 4)
  np.testing.assert_allclose(layer.apply(params, x), pieces.max(-1), rtol=1e-6)


class _SpectralConv(nn.Module):
  @nn.compact
  def __call__(self, x, train):
    return spectral(nn.Conv(6, (3, 3), use_bias=False), True)(x, train)


def test_spectral_norm_power_iteration_finds_the_top_singular_value():
  module = _SpectralConv()
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 5))
  variables = module.init(jax.random.key(1), x, train=False)
  apply = jax.jit(lambda v: module.apply(v, x, train=True, mutable=['spectral']))
  for _ in range(50):
    _, updates = apply(variables)
    variables = {**variables, **updates}
  kernel = np.asarray(variables['params']['Conv_0']['kernel'])
  sigma_svd = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
  sigma = float(jax.tree.leaves({k: v for k, v in jax.tree_util.tree_leaves_with_path(variables['spectral'])
                                 if 'sigma' in jax.tree_util.keystr(k)})[0])
  assert abs(sigma - sigma_svd) / sigma_svd < 1e-3
  # The normalised kernel W / sigma has top singular value 1.
  assert abs(np.linalg.svd(kernel.reshape(-1, 6) / sigma, compute_uv=False)[0] - 1.0) < 1e-3
  # In eval mode the output uses W / sigma and the vectors stay put.
  out, frozen = module.apply(variables, x, train=False, mutable=['spectral'])
  chex.assert_trees_all_equal(frozen['spectral'], variables['spectral'])
  expected = lax.conv_general_dilated(x, kernel / sigma, (1, 1), 'SAME',
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
