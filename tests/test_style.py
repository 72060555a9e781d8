"""StyleGAN's lazy regularisers against hand-computed cases, and the optimiser correction they need."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jgan import games, train
from jgan.config import base_config
from jgan.games import style


def test_r1_of_a_linear_critic_is_the_squared_norm_of_its_weights():
  a = jax.random.normal(jax.random.key(0), (4, 4, 3))
  critic = lambda x: jnp.sum(x * a, axis=(1, 2, 3))  # D(x) = <a, x>: the gradient is a everywhere
  real = jax.random.normal(jax.random.key(1), (5, 4, 4, 3))
  np.testing.assert_allclose(style.r1_penalty(critic, real), jnp.sum(a**2), rtol=1e-5)


def test_path_length_of_a_linear_synthesis_by_hand():
  # images = ws M: J^T y = y M^T for every layer; with y scaled by 1 / sqrt(H W), the length is the root of
  # the mean over layers of ||y_l M^T||^2 computed here directly.
  m = jax.random.normal(jax.random.key(0), (3, 2 * 2 * 1))
  ws = jax.random.normal(jax.random.key(1), (2, 5, 3))  # [batch, layers, w_dim]
  synthesize = lambda ws: jnp.einsum('blw,wp->bp', ws, m).reshape(2, 2, 2, 1)
  key = jax.random.key(2)
  lengths = style.path_lengths(synthesize, ws, key)
  y = jax.random.normal(key, (2, 2, 2, 1)) / 2.0  # sqrt(H W) = 2
  per_layer = jnp.sum((y.reshape(2, 4) @ m.T) ** 2, axis=1)  # the same for every layer
  np.testing.assert_allclose(lengths, jnp.sqrt(per_layer), rtol=1e-5)


def test_lazy_regularisation_scales_the_learning_rate_and_betas():
  cfg = base_config('dcgan').optim.g
  cfg.update(lr=0.002, b1=0.5, b2=0.99)
  c = 16 / 17
  optimizer = style.lazy_optimizer(cfg, 100, every=16)
  params = jnp.zeros(3)
  state = optimizer.init(params)
  grads = [jnp.array([1.0, -2.0, 0.5]), jnp.array([0.3, 1.0, -1.0])]
  updates = []
  for g in grads:
    update, state = optimizer.update(g, state, params)
    updates.append(update)
  # Adam by hand with lr * c, b1^c, b2^c.
  lr, b1, b2 = 0.002 * c, 0.5**c, 0.99**c
  m = v = np.zeros(3)
  for t, g in enumerate(grads, 1):
    m, v = b1 * m + (1 - b1) * np.asarray(g), b2 * v + (1 - b2) * np.asarray(g) ** 2
    expected = -lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + 1e-8)
    np.testing.assert_allclose(updates[t - 1], expected, rtol=1e-5)


@pytest.mark.slow
def test_stylegan_trains_with_r1_in_the_d_loss(tiny_config, tmp_path):
  config = base_config('stylegan', z_dim=16, w_dim=16, mapping_layers=2, fmap_base=64, fmap_max=16)
  config.data, config.train, config.eval = tiny_config.data, tiny_config.train, tiny_config.eval
  config.gan.update(r1_gamma=10.0, r1_every=1)
  game = games.build_game(config)
  assert [phase.name for phase in game.phases] == ['d', 'g']  # R1 every step: in D's loss, not a phase
  metrics = train.run(config, str(tmp_path))
  assert metrics['d/r1'] > 0 and all(np.isfinite(v) for v in metrics.values())
