"""CycleGAN (Zhu et al. 2017): two generators G: A -> B and F: B -> A, two discriminators, unpaired data.

Players: 'g_ab' (G), 'g_ba' (F), 'd_a' (judges domain A), 'd_b'. The generators minimise, eq. 3 and 6,
  L_GAN(G, D_B) + L_GAN(F, D_A) + lambda (|F(G(a)) - a|_1 + |G(F(b)) - b|_1)
  + identity_weight * lambda (|G(b) - b|_1 + |F(a) - a|_1)     (Sec. 5.2, for photo <-> painting),
with the least-squares loss (Sec. 4). As in the reference code, G's adversarial term is MSE(D(G(a)), 1),
twice jgan.losses' 1/2 (D - 1)^2 (Mao et al.'s form), so that lambda = 10 weighs what it weighs there.
D learns from a history of 50 generated images rather than the newest only (Sec. 4, after Shrivastava et
al. 2017); the pools live in the discriminators' mutable collections, so they are checkpointed with the run.
"""
from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections

from jgan import models
from jgan.engine import Game, Phase
from jgan.games.losses import get_loss
from jgan.games.optim import make_optimizer
from jgan.games.players import apply_module, no_latents

CONFIG = {
    'gan': dict(
        loss='non_saturating',  # minimax, non_saturating, wasserstein, hinge, least_squares (CycleGAN's)
        cycle_weight=10.0,  # lambda, on the cycle loss in both directions
        identity_weight=0.5,  # the identity loss's weight, as a fraction of cycle_weight; 0: off
        pool_size=50,  # generated images kept per discriminator (Shrivastava et al. 2017)
    ),
    'data': dict(
        split_b='',  # domain B's split; domain A reads data.split
        load_size=0,  # > 0: resize the shorter side to this, then crop resolution x resolution at random;
        # -1: random crops at the image's own size; 0: centre crop, resized to resolution
        eval_split='test',  # domain A's held-out images for the grids and metrics
        eval_split_b='',  # domain B's
    ),
}
POOL = 'history'  # the collection of each discriminator that holds its image pool


def empty_pool(size: int, image_shape: tuple[int, int, int]) -> dict:
  return {'images': jnp.zeros((size, *image_shape)), 'count': jnp.zeros((), jnp.int32)}


def query_pool(pool: dict, images: jax.Array, rng: jax.Array) -> tuple[dict, jax.Array]:
  """The reference's ImagePool.query: each new image is stored while the pool has room, and returned; once
  the pool is full, with probability 1/2 a random stored image is returned and replaced by the new one,
  otherwise the new image is returned and the pool is unchanged.

  Returns:
    (the updated pool, the images to show D, one per input image).
  """
  size = pool['images'].shape[0]
  if size == 0:
    return pool, images

  def one(carry, inputs):
    stored, count = carry
    image, key = inputs
    swap_key, index_key = jax.random.split(key)
    full = count >= size
    swap = full & jax.random.bernoulli(swap_key, 0.5)
    index = jnp.where(full, jax.random.randint(index_key, (), 0, size), count)
    returned = jnp.where(swap, stored[index], image)
    stored = jnp.where(~full | swap, stored.at[index].set(image), stored)
    return (stored, jnp.minimum(count + 1, size)), returned

  keys = jax.random.split(rng, images.shape[0])
  (stored, count), returned = jax.lax.scan(one, (pool['images'], pool['count']), (images, keys))
  return {'images': stored, 'count': count}, returned


def cycle_terms(g_ab: Callable[[jax.Array], jax.Array], g_ba: Callable[[jax.Array], jax.Array], a: jax.Array,
                b: jax.Array, identity: bool) -> dict[str, jax.Array]:
  """The translations and the L1 terms of the generators' objective: 'cycle' = |F(G(a)) - a|_1 +
  |G(F(b)) - b|_1 (eq. 2) and, when `identity`, 'identity' = |G(b) - b|_1 + |F(a) - a|_1, each a mean over
  pixels; 'fake_b' = G(a) and 'fake_a' = F(b) for the discriminators."""
  fake_b, fake_a = g_ab(a), g_ba(b)
  terms = {'fake_b': fake_b, 'fake_a': fake_a,
           'cycle': jnp.mean(jnp.abs(g_ba(fake_b) - a)) + jnp.mean(jnp.abs(g_ab(fake_a) - b))}
  if identity:
    terms['identity'] = jnp.mean(jnp.abs(g_ab(b) - b)) + jnp.mean(jnp.abs(g_ba(a) - a))
  return terms


def build_game(config: ml_collections.ConfigDict, image_shape: tuple[int, int, int]) -> Game:
  """The CycleGAN game for config.model's family on two domains of `image_shape` images."""
  generator, discriminator = models.build(config.model, image_shape)
  adversarial = get_loss(config.gan.loss)
  gan = config.gan
  if gan.loss == 'least_squares':
    generator_adversarial = lambda logits: 2.0 * adversarial.g(logits)  # the reference's MSE(D(G(a)), 1)
  else:
    generator_adversarial = adversarial.g
  identity_weight = gan.identity_weight * gan.cycle_weight

  def translate(params, collections, player, images):
    return apply_module(generator, params[player], collections[player], images, None, True)

  def judge(params, collections, player, images):
    network = {k: v for k, v in collections[player].items() if k != POOL}
    logits, updated = apply_module(discriminator, params[player], network, images, None, True)
    return logits, {**collections[player], **updated}

  def d_loss(params, collections, batch, rng, step):
    del step
    a, b = batch['a'], batch['b']
    fake_b = jax.lax.stop_gradient(translate(params, collections, 'g_ab', a)[0])
    fake_a = jax.lax.stop_gradient(translate(params, collections, 'g_ba', b)[0])
    pool_a_key, pool_b_key = jax.random.split(rng)
    pool_b, shown_b = query_pool(collections['d_b'][POOL], fake_b, pool_b_key)
    pool_a, shown_a = query_pool(collections['d_a'][POOL], fake_a, pool_a_key)
    updated, total, metrics = {}, 0.0, {}
    for player, real, fake, pool in (('d_b', b, shown_b, pool_b), ('d_a', a, shown_a, pool_a)):
      current = {**collections, player: {**collections[player], POOL: pool}}
      real_logits, current[player] = judge(params, current, player, real)
      fake_logits, updated[player] = judge(params, current, player, fake)
      loss = adversarial.d(real_logits, fake_logits)
      metrics[f'{player}_loss'] = loss
      total = total + loss
    return total, (updated, metrics)

  def g_loss(params, collections, batch, rng, step):
    del step, rng
    updated = dict(collections)

    def generator_of(player):  # image -> image, threading the player's collections (BatchNorm statistics)
      def apply(images):
        out, updated[player] = translate(params, updated, player, images)
        return out
      return apply

    terms = cycle_terms(generator_of('g_ab'), generator_of('g_ba'), batch['a'], batch['b'], identity_weight > 0)
    logits_b, _ = judge(params, collections, 'd_b', terms.pop('fake_b'))
    logits_a, _ = judge(params, collections, 'd_a', terms.pop('fake_a'))
    metrics = {'adversarial': generator_adversarial(logits_b) + generator_adversarial(logits_a), **terms}
    loss = metrics['adversarial'] + gan.cycle_weight * metrics['cycle']
    if identity_weight > 0:
      loss = loss + identity_weight * metrics['identity']
    return loss, ({'g_ab': updated['g_ab'], 'g_ba': updated['g_ba']}, metrics)

  def init(rng):
    keys = dict(zip(('g_ab', 'g_ba', 'd_a', 'd_b'), jax.random.split(rng, 4), strict=True))
    images = jnp.zeros((1, *image_shape))
    variables = {name: generator.init(keys[name], images, None, train=False) for name in ('g_ab', 'g_ba')}
    for name in ('d_a', 'd_b'):
      variables[name] = {**discriminator.init(keys[name], images, None, train=False),
                         POOL: empty_pool(gan.pool_size, image_shape)}
    return variables

  def sample(params, collections, inputs):
    return apply_module(generator, params['g_ab'], collections['g_ab'], inputs['input'], None, False)[0]

  steps = config.train.steps
  g_optimizer, d_optimizer = make_optimizer(config.optim.g, steps), make_optimizer(config.optim.d, steps)
  return Game(
      modules={'g_ab': generator, 'g_ba': generator, 'd_a': discriminator, 'd_b': discriminator},
      optimizers={'g_ab': g_optimizer, 'g_ba': g_optimizer, 'd_a': d_optimizer, 'd_b': d_optimizer},
      phases=(Phase('d', ('d_a', 'd_b'), d_loss), Phase('g', ('g_ab', 'g_ba'), g_loss)),
      init=init,
      sample_inputs=no_latents(config.model.name),
      sample=sample,
      accumulation=config.train.grad_accumulation,
      translations={'AtoB': 'g_ab', 'BtoA': 'g_ba'},
      unpaired=True,
      input_shape=image_shape,
  )
