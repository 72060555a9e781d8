"""Progressive Growing of GANs (Karras et al. 2018), after the reference's networks.py (G_paper, D_paper).

Both networks train from 4x4 up, one resolution ("level") at a time: the static `level` selects the current
resolution 4 * 2^level, and the traced `alpha` in [0, 1] fades its newest block in (Sec. 2, Fig. 2), from
the previous level's output (alpha = 0) to the new block's (alpha = 1). The parameters of every level exist
from init, which must run at the final level (the default), so the parameter tree, and with it the
optimiser state, keeps one shape while the networks grow; a lower level leaves the higher blocks unused.

G: pixel_norm(z) -> dense to 4x4 -> conv3; per further level nearest-neighbour 2x upsampling, conv3, conv3;
every layer LeakyReLU(0.2) and pixel_norm (Sec. 4.2); a linear 1x1 toRGB per level, no tanh (as the
reference: the images are clipped when written). D mirrors it: a 1x1 fromRGB with LeakyReLU per level, then
per level conv3, conv3 and 2x2 average pooling, then at 4x4 the minibatch standard deviation (Sec. 3), conv3,
dense and a dense logit. All layers are equalised (Sec. 4.1), with the reference's gains. The reference's
fused upsample+conv and conv+downsample are the same maps, computed in one transposed or strided convolution;
here they are separate. Unconditional (the labels are ignored). With the defaults at 1024x1024 RGB, G has
23,079,115 parameters and D 23,087,249, every level's toRGB and fromRGB included (Table 2: 23.1M each).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgan.errors import JganError
from jgan.nn.equalized import EqualizedConv, EqualizedDense, minibatch_stddev, pixel_norm

GAME = 'growing'  # trained level by level (jgan.games.growing)
DEFAULTS = {
    'z_dim': 512,
    'fmap_base': 8192,  # the channels at resolution 2^s are min(fmap_base / 2^(s - 1), fmap_max)
    'fmap_max': 512,
    'mbstd_group': 4,  # the minibatch standard deviation's group size (the batch must divide by it, or be smaller)
}
_GAIN = math.sqrt(2.0)  # He's gain for LeakyReLU layers; toRGB and the logit use 1


def resolution(level: int) -> int:
  """The side of the images at `level`: 4 * 2^level."""
  return 4 * 2 ** level


def num_levels(image_shape: tuple[int, int, int]) -> int:
  """The number of levels up to the final resolution: log2(side) - 1 (4x4 is level 0)."""
  return int(math.log2(image_shape[0])) - 1


def num_features(stage: int, fmap_base: int, fmap_max: int) -> int:
  """The reference's nf(stage): min(fmap_base / 2^stage, fmap_max). Level l runs at stage l + 1."""
  return min(fmap_base // 2 ** stage, fmap_max)


def check(model_cfg, image_shape: tuple[int, int, int]) -> None:
  height, width, _ = image_shape
  if height != width or height < 4 or height & (height - 1):
    raise JganError(f'{model_cfg.name} makes square images whose side is a power of two of at least 4, not '
                    f'{height}x{width}: set config.data.resolution to one')
  if num_features(num_levels(image_shape), model_cfg.fmap_base, model_cfg.fmap_max) < 1:
    raise JganError(f'model.fmap_base {model_cfg.fmap_base} leaves no channels at {height}x{width}: set it to at '
                    f'least {height // 2}')


def _level(level: int | None, image_shape: tuple[int, int, int], initializing: bool) -> int:
  final = num_levels(image_shape) - 1
  level = final if level is None else level
  if not 0 <= level <= final:
    raise ValueError(f'level {level} is outside 0..{final} for {image_shape[0]}x{image_shape[1]} images')
  if initializing and level != final:
    raise ValueError(f'initialise at the final level ({final}), so that every level has its parameters')
  return level


def _fade(old: Callable[[], jax.Array], new: jax.Array, alpha: float | jax.Array) -> jax.Array:
  """(1 - alpha) old + alpha new: in this form alpha = 0 gives `old` and alpha = 1 `new` exactly. A Python 1
  (the stable phases, and fixed-resolution use) skips computing `old`."""
  if isinstance(alpha, (int, float)) and alpha == 1:
    return new
  alpha = jnp.asarray(alpha).astype(new.dtype)  # a float32 alpha would promote bfloat16 activations
  return (1 - alpha) * old() + alpha * new


def upsample(x: jax.Array) -> jax.Array:
  """Nearest-neighbour 2x upsampling (the reference's upscale2d)."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def downsample(x: jax.Array) -> jax.Array:
  """2x2 average pooling (the reference's downscale2d)."""
  n, h, w, c = x.shape
  return jnp.mean(x.reshape(n, h // 2, 2, w // 2, 2, c), axis=(2, 4))


class _GBlock(nn.Module):
  """One level of G: at 4x4 a dense layer from the latent (with one bias per channel, as the reference's
  4x4 "conv" of the latent) and a conv3; above, upsampling and two conv3s. LeakyReLU and pixel_norm after each."""

  features: int
  first: bool

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    act = lambda y: pixel_norm(nn.leaky_relu(y, 0.2))
    if self.first:
      # The reference's gain sqrt(2) / 4 (from the original Theano code) on the 16 outputs per channel.
      x = EqualizedDense(16 * self.features, gain=_GAIN / 4, use_bias=False, name='dense')(pixel_norm(x))
      bias = self.param('bias', nn.initializers.zeros, (self.features,)).astype(x.dtype)
      x = act(x.reshape(-1, 4, 4, self.features) + bias)
      return act(EqualizedConv(self.features, 3, gain=_GAIN, name='conv')(x))
    x = act(EqualizedConv(self.features, 3, gain=_GAIN, name='conv0')(upsample(x)))
    return act(EqualizedConv(self.features, 3, gain=_GAIN, name='conv1')(x))


class Generator(nn.Module):
  image_shape: tuple[int, int, int]
  z_dim: int = 512
  fmap_base: int = 8192
  fmap_max: int = 512
  compute_dtype: str = 'float32'  # the equalised layers compute in their input's dtype

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None, train: bool = True, *,
               level: int | None = None, alpha: float | jax.Array = 1.0) -> jax.Array:
    """Images [B, 4 * 2^level, 4 * 2^level, C] from z [B, z_dim]; alpha fades level in over level - 1 (unused
    at level 0)."""
    del labels, train
    if z.shape[-1] != self.z_dim:
      raise ValueError(f'z has {z.shape[-1]} features, not z_dim {self.z_dim}')
    level = _level(level, self.image_shape, self.is_initializing())
    nf = lambda lv: num_features(lv + 1, self.fmap_base, self.fmap_max)
    to_rgb = [EqualizedConv(self.image_shape[-1], 1, name=f'to_rgb_{lv}') for lv in range(level + 1)]
    features = []
    x = z.astype(self.compute_dtype)
    for lv in range(level + 1):
      x = _GBlock(nf(lv), first=lv == 0, name=f'block_{lv}')(x)
      features.append(x)
    if self.is_initializing():  # The lower levels' toRGB layers, which the final level's output does not use.
      for lv in range(level):
        to_rgb[lv](features[lv])
    images = to_rgb[level](x)
    if level > 0:
      images = _fade(lambda: upsample(to_rgb[level - 1](features[level - 1])), images, alpha)
    return images.astype(jnp.float32)


class _DBlock(nn.Module):
  """One level of D above 4x4: conv3, conv3 to the next level's channels, 2x2 average pooling."""

  features: int
  out_features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = nn.leaky_relu(EqualizedConv(self.features, 3, gain=_GAIN, name='conv0')(x), 0.2)
    return downsample(nn.leaky_relu(EqualizedConv(self.out_features, 3, gain=_GAIN, name='conv1')(x), 0.2))


class Discriminator(nn.Module):
  image_shape: tuple[int, int, int]
  fmap_base: int = 8192
  fmap_max: int = 512
  mbstd_group: int = 4
  compute_dtype: str = 'float32'  # the equalised layers compute in their input's dtype

  @nn.compact
  def __call__(self, images: jax.Array, labels: jax.Array | None = None, train: bool = True, *,
               level: int | None = None, alpha: float | jax.Array = 1.0) -> jax.Array:
    """Logits [B] of images [B, 4 * 2^level, 4 * 2^level, C]; alpha fades level in over level - 1 (unused at
    level 0)."""
    del labels, train
    level = _level(level, self.image_shape, self.is_initializing())
    if images.shape[1:3] != (resolution(level),) * 2:
      raise ValueError(f'level {level} takes {resolution(level)}x{resolution(level)} images, not '
                       f'{images.shape[1]}x{images.shape[2]}')
    images = images.astype(self.compute_dtype)
    nf = lambda lv: num_features(lv + 1, self.fmap_base, self.fmap_max)
    from_rgb = [EqualizedConv(nf(lv), 1, gain=_GAIN, name=f'from_rgb_{lv}') for lv in range(level + 1)]
    features = lambda lv, x: nn.leaky_relu(from_rgb[lv](x), 0.2)
    if self.is_initializing():  # The lower levels' fromRGB layers, which the final level's input does not use.
      smaller = images
      for lv in reversed(range(level)):
        smaller = downsample(smaller)
        features(lv, smaller)
    x = features(level, images)
    for lv in range(level, 0, -1):
      x = _DBlock(nf(lv), nf(lv - 1), name=f'block_{lv}')(x)
      if lv == level:
        x = _fade(lambda: features(level - 1, downsample(images)), x, alpha)
    x = minibatch_stddev(x, self.mbstd_group)
    x = nn.leaky_relu(EqualizedConv(nf(0), 3, gain=_GAIN, name='conv')(x), 0.2)
    x = nn.leaky_relu(EqualizedDense(num_features(0, self.fmap_base, self.fmap_max), gain=_GAIN,
                                     name='dense0')(x.reshape(x.shape[0], -1)), 0.2)
    return EqualizedDense(1, name='dense1')(x)[:, 0].astype(jnp.float32)
