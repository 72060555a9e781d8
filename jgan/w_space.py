"""Tools in the W space of a StyleGAN or StyleGAN2 run: python -m jgan.w_space --workdir=runs/stylegan2_digits

Writes to <workdir>/w_space_step_N/ (or --out), from the EMA generator without noise:
  style_mixing.png    StyleGAN Fig. 3: the top row holds source B images and the left column source A images;
                      each band of rows copies B's coarse (layers 0-3: 4x4 and 8x8), middle (4-7: 16x16 and
                      32x32) or fine (8 on: 64x64 up) styles into A. Bands a run lacks (fine at 32x32) are left out.
  truncation_psi.png  one row per latent, psi = 1, 0.7, 0.5, 0, -0.5, -1 from left to right (Fig. 8): psi 0 is
                      the average image w_avg, and negative psi its opposite.
  interpolation_w.png each row walks straight in W from one latent's w to another's.
With --project=IMAGE it also projects that image into W (StyleGAN2 Sec. 5 / Appendix D): projection.png (the
target, then the projection every tenth of the way), projection_w.npz (w and the noise images) and the loss.
"""
from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import flags
from PIL import Image, UnidentifiedImageError

from jgan import models, runs
from jgan.data import pipeline
from jgan.errors import JganError, run_program
from jgan.games.latents import lerp
from jgan.games.style import STATS
from jgan.metrics import digits_classifier, vgg
from jgan.nn import equalized
from jgan.writer import save_grid

LAYER_GROUPS = {'coarse': (0, 4), 'middle': (4, 8), 'fine': (8, None)}  # StyleGAN Sec. 3.1, by synthesis layer
PSIS = (1.0, 0.7, 0.5, 0.0, -0.5, -1.0)


@dataclasses.dataclass(frozen=True)
class StyleNetwork:
  """A trained style generator as pure functions of its sampling (EMA) parameters."""

  generator: nn.Module
  params: dict
  w_avg: jax.Array  # the moving average of w that truncation pulls towards
  num_ws: int
  noise_sides: list[int]

  def map(self, z: jax.Array) -> jax.Array:
    return self.generator.apply({'params': self.params}, z, method='map')

  def synthesize(self, ws: jax.Array, noise: Sequence[jax.Array] | None = None) -> jax.Array:
    """Images of ws [B, num_ws, w_dim] (or one w [B, w_dim] for every layer) with the given noise images,
    or none."""
    if ws.ndim == 2:
      ws = jnp.broadcast_to(ws[:, None], (ws.shape[0], self.num_ws, ws.shape[-1]))
    return self.generator.apply({'params': self.params}, None, ws=ws, noise_mode='const', noise=noise)


def style_network(run: runs.Run) -> StyleNetwork:
  """The generator of a StyleGAN or StyleGAN2 run (runs.load_tool_run(..., style=True) checks the kind)."""
  family = models.get_family(run.config.model.name)
  resolution = run.config.data.resolution
  return StyleNetwork(run.game.modules['g'], run.state.sampling_params()['g'],
                      run.state.collections['g'][STATS]['w_avg'], family.num_ws(resolution),
                      family.noise_sides(resolution))


def copy_styles(ws_a: jax.Array, ws_b: jax.Array, first: int, stop: int | None) -> jax.Array:
  """ws_a with the layers first..stop - 1 taken from ws_b (both [B, num_ws, w_dim]): two style-mixing
  crossovers, into B at `first` and back to A at `stop`."""
  inner = ws_b if stop is None else equalized.mix_styles(ws_b, ws_a, stop)
  return equalized.mix_styles(ws_a, inner, first)


def style_mixing_grid(net: StyleNetwork, w_a: jax.Array, w_b: jax.Array) -> tuple[np.ndarray, list[str]]:
  """Images [(1 + groups * A) * (1 + B), H, W, C] in rows of 1 + B (a blank corner, then the B sources; each
  further row an A source and its mixes) and the names of the groups the run has, in band order."""
  image = lambda w: np.asarray(net.synthesize(w))
  sources_a, sources_b = image(w_a), image(w_b)
  bands, groups = [np.concatenate([np.full_like(sources_b[:1], -1.0), sources_b])], []
  for name, (first, stop) in LAYER_GROUPS.items():
    if first >= net.num_ws:
      continue
    groups.append(name)
    for i in range(len(w_a)):
      ws_a = jnp.broadcast_to(w_a[i], (len(w_b), net.num_ws, w_a.shape[-1]))
      ws_b = jnp.broadcast_to(w_b[:, None], ws_a.shape)
      bands.append(np.concatenate([sources_a[i:i + 1], image(copy_styles(ws_a, ws_b, first, stop))]))
  return np.concatenate(bands), groups


def truncation_grid(net: StyleNetwork, w: jax.Array, psis: Sequence[float] = PSIS) -> np.ndarray:
  """Images [len(w) * len(psis), ...]: row i is w[i] truncated towards w_avg at each psi."""
  truncated = jnp.stack([equalized.truncate(w, net.w_avg, psi) for psi in psis], axis=1)
  return np.asarray(net.synthesize(truncated.reshape(-1, w.shape[-1])))


def interpolation_grid(net: StyleNetwork, w0: jax.Array, w1: jax.Array, steps: int) -> np.ndarray:
  """Images [len(w0) * steps, ...]: row i goes straight from w0[i] to w1[i] in W."""
  path = jax.vmap(lerp, in_axes=(0, 0, None))(w0, w1, jnp.linspace(0.0, 1.0, steps))
  return np.asarray(net.synthesize(path.reshape(-1, w0.shape[-1])))


def noise_regularizer(noise: Sequence[jax.Array]) -> jax.Array:
  """StyleGAN2's projector's penalty on the noise images: the squared autocorrelation at a one-pixel shift
  down and across, summed over a pyramid of 2x2 average-poolings down to 8x8, so that the noise cannot
  carry the image."""
  total = jnp.zeros(())
  for image in noise:
    while True:
      total += jnp.mean(image * jnp.roll(image, 1, axis=1)) ** 2 + jnp.mean(image * jnp.roll(image, 1, axis=2)) ** 2
      if image.shape[1] <= 8:
        break
      image = image.reshape(1, image.shape[1] // 2, 2, image.shape[2] // 2, 2, 1).mean(axis=(2, 4))
  return total


@dataclasses.dataclass
class Projection:
  w: np.ndarray  # [w_dim]
  noise: list[np.ndarray]
  images: np.ndarray  # the projection at every tenth of the way, from w_avg to the final one: [<= 11, H, W, C]
  losses: np.ndarray  # the image loss (pixels + features) at every step
  pixel_mse: float  # of the final projection


def project(net: StyleNetwork, target: np.ndarray, steps: int = 500, features: Callable | None = None,
            feature_weight: float = 1.0, noise_weight: float = 1e5, learning_rate: float = 0.1,
            seed: int = 0) -> Projection:
  """Finds w (one for every layer) and the noise images whose image matches `target` [H, W, C] in [-1, 1],
  as StyleGAN2's projector does (Appendix D): Adam from w_avg with the learning rate ramped up over the
  first 5% of steps and down (cosine) over the last 25%, Gaussian noise on w shrinking to 0 over the first
  75% to explore, the noise images regularised and renormalised after every step. The loss is the mean
  squared pixel difference plus `feature_weight` times that of `features(images)` (the reference's LPIPS
  distance is such a feature loss).
  """
  spread_key, noise_key, step_key = jax.random.split(jax.random.key(seed), 3)
  # The spread of w around its mean, which scales the exploration noise (the reference's w_std).
  ws = net.map(jax.random.normal(spread_key, (2000, net.generator.z_dim)))
  w_std = math.sqrt(float(jnp.mean(jnp.sum(jnp.square(ws - net.w_avg), axis=-1))))
  target = jnp.asarray(target)[None]
  target_features = features(target) if features is not None else None

  def image_loss(images):
    loss = jnp.mean(jnp.square(images - target))
    if features is not None:
      loss += feature_weight * jnp.mean(jnp.square(features(images) - target_features))
    return loss

  def schedule(count):
    t = count / steps
    ramp = 0.5 - 0.5 * jnp.cos(jnp.minimum(1.0, (1.0 - t) / 0.25) * jnp.pi)
    return learning_rate * ramp * jnp.minimum(1.0, t / 0.05)

  def loss_fn(variables, key, t):
    w_noise = jax.random.normal(key, variables['w'].shape) * w_std * 0.05 * jnp.maximum(0.0, 1.0 - t / 0.75) ** 2
    images = net.synthesize(variables['w'] + w_noise, variables['noise'])
    return image_loss(images) + noise_weight * noise_regularizer(variables['noise'])

  optimizer = optax.adam(schedule)

  @jax.jit
  def step(variables, opt_state, index):
    grads = jax.grad(loss_fn)(variables, jax.random.fold_in(step_key, index), index / steps)
    updates, opt_state = optimizer.update(grads, opt_state)
    variables = optax.apply_updates(variables, updates)
    noise = [(n - jnp.mean(n)) * jax.lax.rsqrt(jnp.mean(jnp.square(n - jnp.mean(n)))) for n in variables['noise']]
    return {**variables, 'noise': noise}, opt_state

  @jax.jit
  def current(variables):
    images = net.synthesize(variables['w'], variables['noise'])
    return images, image_loss(images), jnp.mean(jnp.square(images - target))

  noise_keys = jax.random.split(noise_key, len(net.noise_sides))
  variables = {'w': net.w_avg[None],
               'noise': [jax.random.normal(k, (1, side, side, 1)) for k, side in zip(noise_keys, net.noise_sides,
                                                                                    strict=True)]}
  opt_state = optimizer.init(variables)
  snapshots, losses, snapshot_steps = [], [], {round(steps * k / 10) for k in range(11)}
  for index in range(steps + 1):
    images, loss, pixel_mse = current(variables)
    losses.append(float(loss))
    if index in snapshot_steps:
      snapshots.append(np.asarray(images[0]))
    if index < steps:
      variables, opt_state = step(variables, opt_state, index)
  return Projection(np.asarray(variables['w'][0]), [np.asarray(n[0]) for n in variables['noise']],
                    np.stack(snapshots), np.asarray(losses), float(pixel_mse))


def feature_function(name: str, vgg_weights: str = '') -> Callable | None:
  """The feature loss's network: 'digits' (the bundled classifier's penultimate layer), 'vgg' (VGG19's
  phi_5,4, given the converted weights) or 'none'.

  Raises:
    JganError: an unknown name, or 'vgg' without weights.
  """
  if name == 'none':
    return None
  if name == 'digits':
    return digits_classifier.load_or_train().features
  if name == 'vgg':
    if not vgg_weights:
      raise JganError('--features=vgg needs --vgg_weights=FILE: python -m jgan.metrics.vgg --convert=... --out=FILE')
    variables = vgg.load_variables(vgg_weights)
    return lambda images: vgg.VGG19Features().apply(variables, images)
  raise JganError(f"unknown --features={name!r}: use 'digits', 'vgg' or 'none'")


def load_target(path: str, resolution: int, channels: int) -> np.ndarray:
  """An image file as the run's images are: centre-cropped square, resized, in [-1, 1].

  Raises:
    JganError: the file is missing or not an image.
  """
  try:
    with Image.open(path) as image:
      pixels = np.asarray(image)
  except (FileNotFoundError, UnidentifiedImageError, OSError) as error:
    raise JganError(f'cannot read --project={path!r} ({error.__class__.__name__}): give an image file') from None
  return pipeline.preprocess({'image': pixels, 'label': 0}, resolution, channels)['image']


def write_grids(run: runs.Run, out: str, rows: int = 4, steps: int = 8) -> list[str]:
  """Writes the style-mixing, truncation and interpolation grids of `run` into `out`; returns their paths."""
  net = style_network(run)
  scale = max(1, 64 // run.config.data.resolution)
  keys = jax.random.split(jax.random.key(run.config.seed + 4), 4)
  latents = [net.map(jax.random.normal(k, (rows, net.generator.z_dim))) for k in keys]
  paths = []

  def save(name, images, columns):
    paths.append(os.path.join(out, name))
    save_grid(paths[-1], images, columns, scale=scale)

  mixing, _ = style_mixing_grid(net, latents[0], latents[1])
  save('style_mixing.png', mixing, rows + 1)
  save('truncation_psi.png', truncation_grid(net, latents[2]), len(PSIS))
  save('interpolation_w.png', interpolation_grid(net, latents[2], latents[3], steps), steps)
  return paths


def main() -> None:
  FLAGS = flags.FLAGS
  run = runs.load_tool_run(FLAGS.workdir, FLAGS.step, style=True)
  out = FLAGS.out or os.path.join(FLAGS.workdir, f'w_space_step_{run.step}')
  paths = write_grids(run, out)
  if FLAGS.project:
    config = run.config
    target = load_target(FLAGS.project, config.data.resolution, config.data.channels)
    features = FLAGS.features or ('digits' if config.data.name == 'digits' else 'none')
    result = project(style_network(run), target, FLAGS.project_steps, feature_function(features, FLAGS.vgg_weights))
    paths.append(os.path.join(out, 'projection.png'))
    save_grid(paths[-1], np.concatenate([target[None], result.images]), len(result.images) + 1,
              scale=max(1, 64 // config.data.resolution))
    paths.append(os.path.join(out, 'projection_w.npz'))
    np.savez(paths[-1], w=result.w, **{f'noise_{i}': n for i, n in enumerate(result.noise)})
    print(f'projected {FLAGS.project} with {features} features: loss {result.losses[0]:.4g} -> '
          f'{result.losses[-1]:.4g}, pixel MSE {result.pixel_mse:.4g}')
  print('\n'.join(f'wrote {path}' for path in paths))


if __name__ == '__main__':
  runs.define_run_flags('<workdir>/w_space_step_N')
  flags.DEFINE_string('project', None, 'An image file to project into W.')
  flags.DEFINE_integer('project_steps', 500, 'Optimisation steps of the projection.')
  flags.DEFINE_string('features', None, "The projection's feature loss: digits, vgg or none (default: digits for "
                      'a digits run, else none).')
  flags.DEFINE_string('vgg_weights', '', 'With --features=vgg: the converted VGG19 weights.')
  run_program(main)
