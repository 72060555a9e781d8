"""The paired image-to-image game: G maps an input image to its target, D tells real pairs from G's.

Pix2Pix (Isola et al. 2017, eq. 4): G* = arg min_G max_D L_cGAN(G, D) + lambda L_L1(G), lambda = 100, with a
PatchGAN D that sees the (input, output) pair and dropout as G's only noise; no latent z.
SRGAN (Ledig et al. 2017, eq. 3): l_SR = l_content + 1e-3 l_Gen, content the pixel MSE or the VGG54 feature
distance, D seeing the high-resolution image alone; SRResNet-MSE pre-training (gan.pretrain_steps) first.
The Pix2Pix paper halves D's objective to slow it down (Sec. 3.3); under Adam, whose steps do not depend on
the loss's scale, that changes nothing, so it is left out.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from jgan import models
from jgan.engine import Game, Phase
from jgan.errors import JganError
from jgan.games.losses import get_loss
from jgan.games.optim import make_optimizer
from jgan.games.players import apply_module, named_keys, no_latents
from jgan.metrics import vgg

CONFIG = {
    'gan': dict(
        loss='non_saturating',  # minimax, non_saturating, wasserstein, hinge, least_squares (jgan.games.losses)
        content_loss='l1',  # G's distance to the target, 'l1' (Pix2Pix), 'mse' or 'vgg' (SRGAN)
        content_weight=100.0,  # Pix2Pix's lambda (100); SRGAN's is 1
        adversarial_weight=1.0,  # SRGAN's 1e-3
        vgg_weights='',  # with content_loss='vgg': VGG19 weights (python -m jgan.metrics.vgg --convert)
        pretrain_steps=0,  # steps training G on the content loss alone first (SRGAN's SRResNet-MSE)
    ),
    # How a pair forms from a record (jgan.data.pairs): 'aligned', 'edges', 'downsample' or 'features'
    'data': dict(
        pairs='aligned',
        direction='AtoB',  # with pairs='aligned': 'AtoB' translates the left half into the right, 'BtoA' back
        input_key='',  # with pairs='features': the TFDS feature holding the input image
        load_size=0,  # > 0: resize the shorter side to this, then crop resolution x resolution at random;
        # -1: random crops at the image's own size; 0: centre crop, resized to resolution
        eval_split='test',  # held-out pairs for the grids and metrics
    ),
}


def input_shape(config: ml_collections.ConfigDict) -> tuple[int, int, int]:
  """G's input: the target's size (over model.scale for super-resolution), with model.input_channels channels
  where the family has them, else the target's."""
  resolution = config.data.resolution // config.model.get('scale', 1)
  return (resolution, resolution, config.model.get('input_channels', config.data.channels))


def content_loss(config: ml_collections.ConfigDict):
  """(fake, target) -> scalar: gan.content_loss, 'l1', 'mse' or 'vgg' (VGG54 features, SRGAN eq. 5)."""
  name = config.gan.content_loss
  if name == 'l1':
    return lambda fake, target: jnp.mean(jnp.abs(fake - target))
  if name == 'mse':
    return lambda fake, target: jnp.mean((fake - target) ** 2)
  if name == 'vgg':
    if not config.gan.vgg_weights:
      raise JganError("gan.content_loss='vgg' needs VGG19 weights: set gan.vgg_weights to the .npz of "
                      "python -m jgan.metrics.vgg --convert=vgg19-dcbb9e9d.pth --out=vgg19.npz")
    variables = jax.tree.map(jnp.asarray, vgg.load_variables(config.gan.vgg_weights))
    return lambda fake, target: vgg.content_loss(variables, fake, target)
  raise JganError(f"unknown gan.content_loss {name!r}: use 'l1', 'mse' or 'vgg'")


def build_game(config: ml_collections.ConfigDict, image_shape: tuple[int, int, int]) -> Game:
  """The paired game for config.model's family (pix2pix, srgan) on targets of `image_shape`."""
  family = models.get_family(config.model.name)
  generator, discriminator = models.build(config.model, image_shape)
  sees_input = getattr(family, 'DISCRIMINATOR_SEES_INPUT', False)
  adversarial = get_loss(config.gan.loss)
  distance = content_loss(config)
  gan = config.gan
  shape = input_shape(config)

  def keys(rng):
    return named_keys(rng, ('g_dropout', 'd_real', 'd_fake'))

  def judge(params, collections, images, inputs, key):
    condition = inputs if sees_input else None
    return apply_module(discriminator, params['d'], collections, images, condition, True, key)

  def d_loss(params, collections, batch, rng, step):
    del step
    key = keys(rng)
    inputs, targets = batch['input'], batch['target']
    fake = jax.lax.stop_gradient(apply_module(generator, params['g'], collections['g'], inputs, None, True,
                                              key['g_dropout'])[0])
    real_logits, d_collections = judge(params, collections['d'], targets, inputs, key['d_real'])
    fake_logits, d_collections = judge(params, d_collections, fake, inputs, key['d_fake'])
    metrics = {'real_logit': jnp.mean(real_logits), 'fake_logit': jnp.mean(fake_logits)}
    return adversarial.d(real_logits, fake_logits), ({'d': d_collections}, metrics)

  def g_loss(params, collections, batch, rng, step, with_adversary=True):
    del step
    key = keys(rng)
    inputs, targets = batch['input'], batch['target']
    fake, g_collections = apply_module(generator, params['g'], collections['g'], inputs, None, True,
                                       key['g_dropout'])
    content = distance(fake, targets)
    metrics = {f'content_{gan.content_loss}': content}
    if not with_adversary:
      return content, ({'g': g_collections}, metrics)
    fake_logits, d_collections = judge(params, collections['d'], fake, inputs, key['d_fake'])
    adversary = adversarial.g(fake_logits)
    metrics['adversarial'] = adversary
    return (gan.adversarial_weight * adversary + gan.content_weight * content,
            ({'g': g_collections, 'd': d_collections}, metrics))

  def init(rng):
    g_rng, d_rng, dropout_rng = jax.random.split(rng, 3)
    inputs = jnp.zeros((1, *shape))
    return {
        'g': generator.init({'params': g_rng, 'dropout': dropout_rng}, inputs, None, train=False),
        'd': discriminator.init(d_rng, jnp.zeros((1, *image_shape)), inputs if sees_input else None,
                                train=False),
    }

  def sample(params, collections, inputs):
    return apply_module(generator, params['g'], collections['g'], inputs['input'], None, False)[0]

  pretrain = gan.pretrain_steps
  steps = config.train.steps
  phases = (Phase('g_pretrain', ('g',), lambda *a: g_loss(*a, with_adversary=False), stop=pretrain),
            Phase('d', ('d',), d_loss, start=pretrain), Phase('g', ('g',), g_loss, start=pretrain))
  return Game(
      modules={'g': generator, 'd': discriminator},
      optimizers={'g': make_optimizer(config.optim.g, steps), 'd': make_optimizer(config.optim.d, steps)},
      phases=phases if pretrain else phases[1:],
      init=init,
      sample_inputs=no_latents(config.model.name),
      sample=sample,
      accumulation=config.train.grad_accumulation,
      translations={'AtoB': 'g'},
      input_shape=shape,
  )
