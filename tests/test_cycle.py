"""CycleGAN's pieces: the history pool of generated images and the cycle and identity terms."""
import chex
import jax
import jax.numpy as jnp
import numpy as np

from jgan.games import cycle


def _query_all(pool, batches, seed=0):
  returned = []
  for i, images in enumerate(batches):
    pool, shown = jax.jit(cycle.query_pool)(pool, images, jax.random.key(seed + i))
    returned.append(shown)
  return pool, returned


def test_pool_stores_until_full_then_swaps_half_the_time():
  size = 50
  pool = cycle.empty_pool(size, (1, 1, 1))
  # Image k is the constant k + 1, so every stored or returned image says which it was.
  batches = [jnp.arange(i * 5, i * 5 + 5, dtype=jnp.float32).reshape(5, 1, 1, 1) + 1 for i in range(60)]
  pool, returned = _query_all(pool, batches)
  images = np.asarray(pool['images']).reshape(-1)
  assert int(pool['count']) == size and pool['images'].shape[0] == size  # never grows beyond 50
  # The first 50 images are returned as they come (the pool has room for them).
  np.testing.assert_array_equal(np.concatenate(returned[:10]).reshape(-1), np.arange(1, 51))
  # Afterwards an image comes back from the pool (an older one) about half the time.
  later = np.concatenate(returned[10:]).reshape(-1)
  swapped = later != np.arange(51, 301)
  assert np.all(later[swapped] < np.arange(51, 301)[swapped])
  assert 0.4 < swapped.mean() < 0.6, swapped.mean()
  # Every stored image is one that was queried, and no image is stored twice.
  assert len(set(images.tolist())) == size and images.min() >= 1 and images.max() <= 300


def test_an_empty_pool_size_passes_images_through():
  pool = cycle.empty_pool(0, (2, 2, 3))
  images = jnp.ones((4, 2, 2, 3))
  _, shown = cycle.query_pool(pool, images, jax.random.key(0))
  np.testing.assert_array_equal(shown, images)


def test_cycle_and_identity_terms_by_hand():
  a = jax.random.uniform(jax.random.key(0), (2, 4, 4, 3), minval=-0.5, maxval=0.5)
  b = jax.random.uniform(jax.random.key(1), (2, 4, 4, 3), minval=-0.5, maxval=0.5)
  identity = lambda x: x
  terms = cycle.cycle_terms(identity, identity, a, b, identity=True)
  assert float(terms['cycle']) == 0.0 and float(terms['identity']) == 0.0  # identity generators: no loss
  chex.assert_trees_all_equal(terms['fake_b'], a)
  shift = lambda x: x + 0.1  # G adds 0.1, F is the identity: each cycle is off by 0.1, G(b) by 0.1
  terms = cycle.cycle_terms(shift, identity, a, b, identity=True)
  np.testing.assert_allclose(terms['cycle'], 0.2, rtol=1e-6)
  np.testing.assert_allclose(terms['identity'], 0.1, rtol=1e-6)
  assert 'identity' not in cycle.cycle_terms(shift, identity, a, b, identity=False)
