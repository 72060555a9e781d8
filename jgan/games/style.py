"""The StyleGAN game (Karras et al. 2019, 2020): a mapping network to W, style mixing, the non-saturating loss,
and lazy regularisation: R1 on D every `gan.r1_every` steps and the path-length penalty on G every
`gan.pl_every` steps, each scaled by its interval so that its average weight is unchanged (StyleGAN2 Sec. 3.1);
with r1_every 1 (StyleGAN), R1 is part of D's loss.

StyleGAN2's Appendix B: the optimiser of a player with a lazy regulariser every k steps runs at learning rate
lr * c and betas beta^c with c = k / (k + 1), since its parameters now take k + 1 updates where they took k.
G keeps two statistics in its 'stats' collection, checkpointed with the run: w_avg, the moving average of w
(decay `gan.w_avg_decay`) that truncation in W pulls towards, and pl_mean, the moving average of the path
lengths (decay `gan.pl_decay`) that the penalty compares against.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jgan import models
from jgan.engine import Game, Phase, generator_ema
from jgan.games.latents import SAMPLING_EVAL
from jgan.games.optim import learning_rate
from jgan.games.players import named_keys
from jgan.nn import equalized

CONFIG = {
    # The loss is the non-saturating one, with the regularisers below (StyleGAN2 Sec. 3.1, Appendix B).
    'gan': dict(
        r1_gamma=0.0,  # R1 weight gamma (StyleGAN2 FFHQ 1024: 10); 0 turns it off
        r1_every=16,
        pl_weight=0.0,  # path-length regularisation weight (StyleGAN2: 2); 0 turns it off
        pl_every=4,
        pl_decay=0.01,  # of the path lengths' moving average
        pl_batch_shrink=2,  # the penalty runs on batch_size / this examples
        style_mixing=0.9,  # probability that a batch example mixes two latents' styles
        w_avg_decay=0.995,  # of the moving average of w that truncation in W pulls towards
        ema_decay=0.0,  # EMA of generator weights used for sampling; 0 turns it off
        ema_start=0,
    ),
    'eval': SAMPLING_EVAL,
}
STATS = 'stats'


def lazy_optimizer(cfg: ml_collections.ConfigDict, total_updates: int, every: int) -> optax.GradientTransformation:
  """Adam with StyleGAN2's lazy-regularisation correction for a regulariser every `every` steps."""
  c = every / (every + 1) if every > 1 else 1.0
  base = learning_rate(cfg, total_updates)
  lr = base * c if isinstance(base, float) else (lambda count: c * base(count))
  return optax.adam(lr, b1=cfg.b1**c, b2=cfg.b2**c, eps=1e-8)


def r1_penalty(critic, real: jax.Array) -> jax.Array:
  """Mescheder et al. 2018, eq. 9 without gamma / 2: E ||grad_x D(x)||^2 on real images."""
  grads = jax.grad(lambda x: jnp.sum(critic(x)))(real)
  return jnp.mean(jnp.sum(jnp.square(grads), axis=(1, 2, 3)))


def path_lengths(synthesize, ws: jax.Array, key: jax.Array) -> jax.Array:
  """StyleGAN2 eq. 4: ||J_w^T y||_2 per example, y ~ N(0, I) / sqrt(H W) over the image, the Jacobian taken
  with respect to every layer's w and the squared norms averaged over the layers, as the reference does."""
  images, vjp = jax.vjp(synthesize, ws)
  noise = jax.random.normal(key, images.shape) / jnp.sqrt(images.shape[1] * images.shape[2])
  (grads,) = vjp(noise)
  return jnp.sqrt(jnp.mean(jnp.sum(jnp.square(grads), axis=2), axis=1))


def build_game(config: ml_collections.ConfigDict, image_shape: tuple[int, int, int]) -> Game:
  """The StyleGAN game for config.model's family (stylegan, stylegan2) on images of `image_shape`."""
  family = models.get_family(config.model.name)
  generator, discriminator = models.build(config.model, image_shape)
  gan, model = config.gan, config.model
  num_ws = family.num_ws(image_shape[0])

  def keys(rng):
    return named_keys(rng, ('z', 'z_mix', 'mix', 'crossover', 'noise', 'pl_z', 'pl_noise', 'pl_y'))

  def mapping(params, z):
    return generator.apply({'params': params['g']}, z, method='map')

  def styles(params, key, n):
    """ws [n, num_ws, w_dim] with style mixing: with probability gan.style_mixing, layers from a random
    crossover on take a second latent's w (StyleGAN Sec. 3.1)."""
    w = mapping(params, jax.random.normal(key['z'], (n, model.z_dim)))
    w_mix = mapping(params, jax.random.normal(key['z_mix'], (n, model.z_dim)))
    crossover = jax.random.randint(key['crossover'], (n,), 1, num_ws)
    mixed = jax.random.bernoulli(key['mix'], gan.style_mixing, (n,))
    return equalized.mix_styles(w, w_mix, jnp.where(mixed, crossover, num_ws), num_ws), w

  def synthesize(params, ws, noise_key):
    return generator.apply({'params': params['g']}, None, ws=ws, rngs={'noise': noise_key})

  def judge(params, images):  # Karras et al.'s discriminators keep no statistics: parameters only
    return discriminator.apply({'params': params['d']}, images)

  def d_loss(params, collections, batch, rng, step):
    del step
    key, real = keys(rng), batch['image']
    ws, _ = styles(params, key, real.shape[0])
    fake = jax.lax.stop_gradient(synthesize(params, ws, key['noise']))
    real_logits = judge(params, real)
    fake_logits = judge(params, fake)
    loss = jnp.mean(jax.nn.softplus(fake_logits)) + jnp.mean(jax.nn.softplus(-real_logits))
    metrics = {'real_logit': jnp.mean(real_logits), 'fake_logit': jnp.mean(fake_logits)}
    if gan.r1_gamma > 0 and gan.r1_every == 1:  # StyleGAN's R1 at every step: part of D's loss, one update
      metrics['r1'] = r1_penalty(lambda x: judge(params, x), real)
      loss = loss + gan.r1_gamma / 2 * metrics['r1']
    return loss, ({}, metrics)

  def d_r1_loss(params, collections, batch, rng, step):
    del rng, step
    penalty = r1_penalty(lambda x: judge(params, x), batch['image'])
    return gan.r1_gamma / 2 * penalty * gan.r1_every, ({}, {'r1': penalty})

  def g_loss(params, collections, batch, rng, step):
    del step
    key = keys(rng)
    ws, w = styles(params, key, batch['image'].shape[0])
    fake_logits = judge(params, synthesize(params, ws, key['noise']))
    stats = collections['g'][STATS]
    w_avg = gan.w_avg_decay * stats['w_avg'] + (1 - gan.w_avg_decay) * jnp.mean(jax.lax.stop_gradient(w), axis=0)
    return jnp.mean(jax.nn.softplus(-fake_logits)), ({'g': {STATS: {**stats, 'w_avg': w_avg}}}, {})

  def g_pl_loss(params, collections, batch, rng, step):
    del step
    key = keys(rng)
    n = max(1, batch['image'].shape[0] // gan.pl_batch_shrink)
    ws, _ = styles(params, {**key, 'z': key['pl_z']}, n)
    lengths = path_lengths(lambda ws: synthesize(params, ws, key['pl_noise']), ws, key['pl_y'])
    stats = collections['g'][STATS]
    pl_mean = stats['pl_mean'] + gan.pl_decay * (jnp.mean(jax.lax.stop_gradient(lengths)) - stats['pl_mean'])
    penalty = jnp.mean(jnp.square(lengths - pl_mean))
    metrics = {'path_length': jnp.mean(lengths), 'pl_penalty': penalty}
    return penalty * gan.pl_weight * gan.pl_every, ({'g': {STATS: {**stats, 'pl_mean': pl_mean}}}, metrics)

  def init(rng):
    g_rng, d_rng, noise_rng = jax.random.split(rng, 3)
    g_vars = generator.init({'params': g_rng, 'noise': noise_rng}, jnp.zeros((1, model.z_dim)), train=False)
    stats = {'w_avg': jnp.zeros((model.w_dim,)), 'pl_mean': jnp.zeros(())}
    return {'g': {**g_vars, STATS: stats}, 'd': discriminator.init(d_rng, jnp.zeros((1, *image_shape)), train=False)}

  def sample_inputs(rng, n, labels=None, truncate=None):
    """z, and psi: truncation in W towards w_avg (StyleGAN Sec. 3.2 / Appendix B), 1 = none. `truncate` is
    (psi, form) as the tools pass it; the form is the only one W has."""
    psi = 1.0 if truncate is None else float(truncate[0])
    return {'z': jax.random.normal(rng, (n, model.z_dim)), 'psi': jnp.full((n,), psi)}

  def sample(params, collections, inputs):
    w = mapping(params, inputs['z'])
    if 'psi' in inputs:  # tools that build their own inputs (interpolations) give z alone
      w = equalized.truncate(w, collections['g'][STATS]['w_avg'], inputs['psi'][:, None])
    ws = jnp.broadcast_to(w[:, None], (w.shape[0], num_ws, w.shape[-1]))
    return generator.apply({'params': params['g']}, None, ws=ws, noise_mode='const')

  steps = config.train.steps
  phases = [Phase('d', ('d',), d_loss), Phase('g', ('g',), g_loss)]
  if gan.r1_gamma > 0 and gan.r1_every > 1:
    phases.insert(1, Phase('d_r1', ('d',), d_r1_loss, every=gan.r1_every))
  if gan.pl_weight > 0:
    phases.append(Phase('g_pl', ('g',), g_pl_loss, every=gan.pl_every))
  return Game(
      modules={'g': generator, 'd': discriminator},
      optimizers={'g': lazy_optimizer(config.optim.g, steps, gan.pl_every if gan.pl_weight > 0 else 1),
                  'd': lazy_optimizer(config.optim.d, steps, gan.r1_every if gan.r1_gamma > 0 else 1)},
      phases=tuple(phases),
      init=init,
      sample_inputs=sample_inputs,
      sample=sample,
      **generator_ema(gan.ema_decay, gan.ema_start),
      accumulation=config.train.grad_accumulation,
  )
