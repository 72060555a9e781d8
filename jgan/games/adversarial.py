"""The standard game of one generator against one discriminator (2014 GAN, DCGAN, WGAN, WGAN-GP, cGAN,
SNGAN, BigGAN, ...).

Built from the config: the family's modules, an adversarial loss from jgan.losses, `n_critic` D updates
per G update, and optional gradient penalty, weight clipping, orthogonal regularisation and EMA of G.
Conditional models (model.num_classes > 0) generate the classes of the real batch they are compared with.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from jgan import models
from jgan.engine import Game, Phase, generator_ema
from jgan.games import regularizers
from jgan.games.latents import SAMPLING_EVAL, truncated_latents
from jgan.games.losses import get_loss
from jgan.games.optim import make_optimizer
from jgan.games.players import apply_module, named_keys

CONFIG = {
    'gan': dict(
        loss='non_saturating',  # minimax, non_saturating, wasserstein, hinge, least_squares (jgan.games.losses)
        n_critic=1,  # discriminator updates per generator update (the 2014 paper's k)
        gp_weight=0.0,  # WGAN-GP lambda (10 in the paper); 0 turns the penalty off
        weight_clip=0.0,  # WGAN's c (0.01 in the paper); 0 turns clipping off
        z_distribution='normal',  # or 'uniform' on [-1, 1]
        ema_decay=0.0,  # EMA of generator weights used for sampling; 0 turns it off
        ema_start=0,
        ortho_weight=0.0,  # BigGAN's orthogonal regularisation beta (1e-4) on G; 0 turns it off
    ),
    'eval': SAMPLING_EVAL,
}


def build_game(config: ml_collections.ConfigDict, image_shape: tuple[int, int, int]) -> Game:
  """The G/D game that `config.model` and `config.gan` describe."""
  generator, discriminator = models.build(config.model, image_shape)
  adversarial = get_loss(config.gan.loss)
  gan = config.gan
  z_dim = config.model.z_dim
  num_classes = config.model.get('num_classes', 0)

  def latents(rng, n, truncate=None):
    if gan.z_distribution == 'uniform':  # the 2014 paper's noise
      return jax.random.uniform(rng, (n, z_dim), minval=-1.0, maxval=1.0)
    if truncate is not None:
      return truncated_latents(rng, (n, z_dim), *truncate)
    return jax.random.normal(rng, (n, z_dim))

  def keys(rng):
    # Named keys from the sub-batch's key: the D and G phases draw the same latents (and D's dropout on
    # them), so the generator's forward pass is shared between the phases.
    return named_keys(rng, ('latent', 'g_dropout', 'd_real', 'd_fake', 'gp_dropout', 'gp_mix'))

  def generate(params, collections, key, n, labels):
    return apply_module(generator, params['g'], collections['g'], latents(key['latent'], n), labels, True,
                        key['g_dropout'])

  def conditioning(batch):
    return batch['label'] if num_classes else None

  def d_loss(params, collections, batch, rng, step):
    del step
    key = keys(rng)
    real, labels = batch['image'], conditioning(batch)
    # G's running statistics are updated in the G phase only, once per iteration as in PyTorch's DCGAN.
    fake = jax.lax.stop_gradient(generate(params, collections, key, real.shape[0], labels)[0])
    real_logits, d_collections = apply_module(discriminator, params['d'], collections['d'], real, labels,
                                              True, key['d_real'])
    fake_logits, d_collections = apply_module(discriminator, params['d'], d_collections, fake, labels,
                                              True, key['d_fake'])
    loss = adversarial.d(real_logits, fake_logits)
    metrics = {'real_logit': jnp.mean(real_logits), 'fake_logit': jnp.mean(fake_logits)}
    if gan.gp_weight > 0:
      critic = lambda x: apply_module(discriminator, params['d'], d_collections, x, labels, True,
                                      key['gp_dropout'])[0]
      penalty = regularizers.gradient_penalty(critic, real, fake, key['gp_mix'])
      loss = loss + gan.gp_weight * penalty
      metrics['gradient_penalty'] = penalty
    return loss, ({'d': d_collections}, metrics)

  def g_loss(params, collections, batch, rng, step):
    del step
    key = keys(rng)
    labels = conditioning(batch)
    fake, g_collections = generate(params, collections, key, batch['image'].shape[0], labels)
    fake_logits, d_collections = apply_module(discriminator, params['d'], collections['d'], fake, labels,
                                              True, key['d_fake'])
    loss, metrics = adversarial.g(fake_logits), {}
    if gan.ortho_weight > 0:  # BigGAN's beta (1e-4), on every G weight but the shared class embedding
      penalty = regularizers.orthogonal_penalty(params['g'], exclude=('shared_embedding',))
      loss = loss + gan.ortho_weight * penalty
      metrics['orthogonal_penalty'] = penalty
    return loss, ({'g': g_collections, 'd': d_collections}, metrics)

  def init(rng):
    g_rng, d_rng, dropout_rng = jax.random.split(rng, 3)
    labels = jnp.zeros((1,), jnp.int32)
    return {
        'g': generator.init(g_rng, jnp.zeros((1, z_dim)), labels, train=False),
        'd': discriminator.init({'params': d_rng, 'dropout': dropout_rng}, jnp.zeros((1, *image_shape)),
                                labels, train=False),
    }

  def sample_inputs(rng, n, labels=None, truncate=None):
    inputs = {'z': latents(rng, n, truncate)}
    if num_classes:
      inputs['label'] = (jnp.asarray(labels, jnp.int32) if labels is not None else
                         jax.random.randint(jax.random.fold_in(rng, 1), (n,), 0, num_classes))
    return inputs

  def sample(params, collections, inputs):
    return apply_module(generator, params['g'], collections['g'], inputs['z'], inputs.get('label'), False)[0]

  clip = gan.weight_clip
  d_phase = Phase('d', ('d',), d_loss, repeats=gan.n_critic,
                  constrain=(lambda p: {'d': regularizers.clip_weights(p['d'], clip)}) if clip > 0 else None)
  return Game(
      modules={'g': generator, 'd': discriminator},
      optimizers={'g': make_optimizer(config.optim.g, config.train.steps),
                  'd': make_optimizer(config.optim.d, config.train.steps * gan.n_critic)},
      phases=(d_phase, Phase('g', ('g',), g_loss)),
      init=init,
      sample_inputs=sample_inputs,
      sample=sample,
      **generator_ema(gan.ema_decay, gan.ema_start),
      num_classes=num_classes,
      accumulation=config.train.grad_accumulation,
  )
