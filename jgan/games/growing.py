"""Progressive growing (Karras et al. 2018): G and D train at 4x4 first, then each further level fades in over
`grow.fade_images` images and trains stably for `grow.stable_images`, each level with its own batch size and
learning-rate scale, until the final level trains to the end of the run.

The level is static (the side of the batch's real images: one compiled step per level) and alpha is traced,
computed from the step, so a fade compiles once and a checkpoint taken mid-fade resumes with its alpha. As in
the reference's process_reals, the real images fade too: (1 - alpha) * their upsampled 2x2 average pooling +
alpha * themselves. The loss is the config's (ProGAN: WGAN-GP with lambda 10) plus the drift term
gan.drift_weight * E[D(x)^2] on real logits (Sec. A.1, epsilon_drift 0.001), which keeps D's output near 0.

G's 'growth' collection records the level and alpha of its latest update, so that samples (and the tools, from
a checkpoint) show the network as it was training: the level's images, nearest-upsampled to the final size.
"""
from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jgan import models
from jgan.engine import Game, Phase, generator_ema
from jgan.errors import JganError
from jgan.games import regularizers
from jgan.games.latents import SAMPLING_EVAL, truncated_latents
from jgan.games.losses import get_loss
from jgan.games.optim import make_optimizer
from jgan.games.players import named_keys
from jgan.schedule import Stage

CONFIG = {
    'gan': dict(
        loss='non_saturating',  # minimax, non_saturating, wasserstein, hinge, least_squares (ProGAN: wasserstein)
        n_critic=1,  # discriminator updates per generator update
        gp_weight=0.0,  # WGAN-GP lambda (ProGAN: 10); 0 turns the penalty off
        drift_weight=0.0,  # epsilon_drift (0.001): weight of E[D(x)^2] on real logits in D's loss
        ema_decay=0.0,  # EMA of generator weights used for sampling; 0 turns it off
        ema_start=0,
    ),
    # From 4x4, each level fades in, then trains stably
    'grow': dict(
        stable_images=0,  # real images per level at a fixed resolution (ProGAN: 600k); below the final level
        fade_images=0,  # real images over which a new level's alpha rises from 0 to 1 (ProGAN: 600k)
        batch_sizes=(),  # per level from 4x4 up (ProGAN's minibatch_dict); levels past the end: train.batch_size
        lr_scales=(),  # per level, multiplying optim.g.lr and optim.d.lr (ProGAN's lrate_dict); default 1
    ),
    'eval': SAMPLING_EVAL,
}
GROWTH = 'growth'


@dataclasses.dataclass(frozen=True)
class Span:
  """One part of the growth schedule: a level fading in or training stably, from iteration `start`."""

  level: int
  fading: bool
  start: int
  steps: int | None  # None: the final level, to the end of the run
  batch_size: int


def _level_values(values, default, levels: int, key: str) -> list:
  if len(values) > levels:
    raise JganError(f'{key} has {len(values)} entries but the run has {levels} levels (4x4 up to '
                    f'{4 * 2 ** (levels - 1)}x{4 * 2 ** (levels - 1)}): give at most one per level')
  return [values[level] if level < len(values) else default for level in range(levels)]


def schedule(config: ml_collections.ConfigDict) -> list[Span]:
  """The spans of the run, in order: level 0 stable; then per level a fade and, below the final level, a
  stable span. A fade or stable length of 0 images skips those spans (both 0: the final level alone).

  Raises:
    JganError: more per-level values than levels, or a batch size the devices do not divide.
  """
  levels = models.get_family(config.model.name).num_levels((config.data.resolution,) * 2)
  batch_sizes = _level_values(config.grow.batch_sizes, config.train.batch_size, levels, 'grow.batch_sizes')
  spans, start = [], 0
  for level in range(levels):
    for fading, images in ((True, config.grow.fade_images if level else 0),
                           (False, config.grow.stable_images if level < levels - 1 else None)):
      if images == 0:
        continue
      if batch_sizes[level] % jax.device_count():
        raise JganError(f'grow.batch_sizes gives level {level} a batch of {batch_sizes[level]}, which does not '
                        f'split over {jax.device_count()} devices: use a multiple of {jax.device_count()}')
      steps = None if images is None else math.ceil(images / batch_sizes[level])
      spans.append(Span(level, fading, start, steps, batch_sizes[level]))
      start += steps or 0
  return spans


def steps_for_images(config: ml_collections.ConfigDict, images: int) -> int:
  """The train.steps that show `images` real images in all (per D update) under the config's schedule: how a
  config states the reference's total_kimg."""
  spans = schedule(config)
  shown = sum(span.steps * span.batch_size for span in spans[:-1])
  return spans[-1].start + max(0, math.ceil((images - shown) / spans[-1].batch_size))


def stages(config: ml_collections.ConfigDict) -> tuple[Stage, ...]:
  """The engine's data stages: one per span, at the span's level's resolution and batch size."""
  result = []
  for span in schedule(config):
    side = 4 * 2 ** span.level
    what = f'fading in over {span.steps} steps' if span.fading else 'stable'
    result.append(Stage(span.start, span.batch_size, side,
                        f'level {span.level} ({side}x{side}, batch {span.batch_size}): {what}'))
  return tuple(result)


def level_lr_scale(spans: list[Span], scales: list[float], updates_per_step: int) -> optax.Schedule:
  """Optimiser update count -> its level's learning-rate scale (a level's rate applies from its fade on, as
  the reference's lrate_dict does)."""
  starts = jnp.asarray([span.start * updates_per_step for span in spans])
  per_span = jnp.asarray([scales[span.level] for span in spans], jnp.float32)
  return lambda count: per_span[jnp.searchsorted(starts, count, side='right') - 1]


def upsample_to(images: jax.Array, side: int) -> jax.Array:
  """Nearest-neighbour upsampling of square images to `side` (a multiple of theirs)."""
  factor = side // images.shape[1]
  return jnp.repeat(jnp.repeat(images, factor, axis=1), factor, axis=2)


def build_game(config: ml_collections.ConfigDict, image_shape: tuple[int, int, int]) -> Game:
  """The growing game for config.model's family (progan), whose networks take `level` and `alpha`."""
  family = models.get_family(config.model.name)
  generator, discriminator = models.build(config.model, image_shape)
  adversarial = get_loss(config.gan.loss)
  gan, z_dim = config.gan, config.model.z_dim
  spans = schedule(config)
  levels = family.num_levels(image_shape)
  fades = {span.level: (span.start, span.steps) for span in spans if span.fading}
  scales = _level_values(config.grow.lr_scales, 1.0, levels, 'grow.lr_scales')

  def level_of(images: jax.Array) -> int:
    return int(math.log2(images.shape[1])) - 2

  def alpha_at(level: int, step: jax.Array) -> float | jax.Array:
    """0 -> 1 linearly over the level's fade (Sec. 2), 1 after it; a Python 1 for a level without one."""
    if level not in fades:
      return 1.0
    start, steps = fades[level]
    return jnp.clip((step - start) / steps, 0.0, 1.0).astype(jnp.float32)

  def keys(rng):
    return named_keys(rng, ('latent', 'gp_mix'))

  def generate(params, key, n, level, alpha):
    z = jax.random.normal(key['latent'], (n, z_dim))
    return generator.apply({'params': params['g']}, z, level=level, alpha=alpha)

  def critic(params, level, alpha):
    return lambda images: discriminator.apply({'params': params['d']}, images, level=level, alpha=alpha)

  def d_loss(params, collections, batch, rng, step):
    key, real = keys(rng), batch['image']
    level = level_of(real)
    alpha = alpha_at(level, step)
    if level > 0:  # the reference's process_reals: the real images fade between the two resolutions
      real = (1 - alpha) * upsample_to(family.downsample(real), real.shape[1]) + alpha * real
    fake = jax.lax.stop_gradient(generate(params, key, real.shape[0], level, alpha))
    judge = critic(params, level, alpha)
    real_logits, fake_logits = judge(real), judge(fake)
    loss = adversarial.d(real_logits, fake_logits)
    metrics = {'real_logit': jnp.mean(real_logits), 'fake_logit': jnp.mean(fake_logits), 'alpha': alpha}
    if gan.gp_weight > 0:
      metrics['gradient_penalty'] = regularizers.gradient_penalty(judge, real, fake, key['gp_mix'])
      loss = loss + gan.gp_weight * metrics['gradient_penalty']
    if gan.drift_weight > 0:
      metrics['drift'] = jnp.mean(jnp.square(real_logits))
      loss = loss + gan.drift_weight * metrics['drift']
    return loss, ({}, metrics)

  def g_loss(params, collections, batch, rng, step):
    level = level_of(batch['image'])
    alpha = alpha_at(level, step)
    fake = generate(params, keys(rng), batch['image'].shape[0], level, alpha)
    growth = {'level': jnp.asarray(level, jnp.int32), 'alpha': jnp.asarray(alpha, jnp.float32)}
    return adversarial.g(critic(params, level, alpha)(fake)), ({'g': {GROWTH: growth}}, {})

  def init(rng):
    g_rng, d_rng = jax.random.split(rng)
    growth = {'level': jnp.asarray(spans[0].level, jnp.int32), 'alpha': jnp.ones((), jnp.float32)}
    return {'g': {**generator.init(g_rng, jnp.zeros((1, z_dim)), train=False), GROWTH: growth},
            'd': discriminator.init(d_rng, jnp.zeros((1, *image_shape)), train=False)}

  def sample_inputs(rng, n, labels=None, truncate=None):
    del labels
    return {'z': truncated_latents(rng, (n, z_dim), *truncate) if truncate is not None
            else jax.random.normal(rng, (n, z_dim))}

  def sample(params, collections, inputs):
    """Images at the level and alpha of the latest update, upsampled to the final resolution."""
    growth = collections['g'][GROWTH]
    at_level = [lambda z, alpha, level=level: upsample_to(
        generator.apply({'params': params['g']}, z, level=level, alpha=alpha), image_shape[0])
        for level in range(levels)]
    return jax.lax.switch(growth['level'], at_level, inputs['z'], growth['alpha'])

  steps = config.train.steps
  d_optimizer = optax.chain(make_optimizer(config.optim.d, steps * gan.n_critic),
                            optax.scale_by_schedule(level_lr_scale(spans, scales, gan.n_critic)))
  g_optimizer = optax.chain(make_optimizer(config.optim.g, steps),
                            optax.scale_by_schedule(level_lr_scale(spans, scales, 1)))
  return Game(
      modules={'g': generator, 'd': discriminator},
      optimizers={'g': g_optimizer, 'd': d_optimizer},
      phases=(Phase('d', ('d',), d_loss, repeats=gan.n_critic), Phase('g', ('g',), g_loss)),
      init=init,
      sample_inputs=sample_inputs,
      sample=sample,
      **generator_ema(gan.ema_decay, gan.ema_start),
      accumulation=config.train.grad_accumulation,
      stages=stages(config),
  )
