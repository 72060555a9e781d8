"""DCGAN (Radford et al. 2016): all-convolutional G and D with BatchNorm, as PyTorch users run it.

G: z -> 4x4 x (8 g_width) by a "1x1 -> 4x4" transposed convolution (a dense layer), then 4x4 stride-2
transposed convolutions halving the channels up to the resolution, BatchNorm + ReLU, tanh output.
D: 4x4 stride-2 convolutions doubling the channels from d_width, LeakyReLU(0.2), BatchNorm on all but the
first, no pooling, and a final 4x4 valid convolution to one logit. Weights ~ N(0, 0.02) (Sec. 4).
Conditional (num_classes > 0): G sees [z, one-hot y], D sees the image with one constant plane per class.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgan.errors import JganError
from jgan.nn.layers import norm_layer, spectral, with_one_hot
from jgan.nn.resample import DownConv4x4, UpConv4x4

DEFAULTS = {
    'z_dim': 100,
    'num_classes': 0,  # > 0: conditional (Mirza and Osindero 2014): one-hot labels join z, and D's input
    'g_width': 64,  # PyTorch's ngf
    'd_width': 64,  # PyTorch's ndf
    'g_norm': 'batch',
    'd_norm': 'batch',  # 'none' (or 'layer') for WGAN-GP: the penalty is per example, BatchNorm mixes them
    'spectral_norm': False,  # in D (Miyato et al. 2018)
}
RESOLUTIONS = (16, 32, 64, 128, 256)
_INIT = nn.initializers.normal(0.02)


def check(model_cfg, image_shape: tuple[int, int, int]) -> None:
  height, width, _ = image_shape
  if height != width or height not in RESOLUTIONS:
    raise JganError(f'dcgan makes square images of side {RESOLUTIONS}, not {height}x{width}: '
                    f'set config.data.resolution to one of those')


def _num_upsamplings(resolution: int) -> int:
  return int(math.log2(resolution)) - 2  # 4x4 -> resolution


class Generator(nn.Module):
  image_shape: tuple[int, int, int]
  num_classes: int = 0
  g_width: int = 64
  g_norm: str = 'batch'
  compute_dtype: str = 'float32'

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None, train: bool = True) -> jax.Array:
    z = with_one_hot(z, labels, self.num_classes)
    ups = _num_upsamplings(self.image_shape[0])
    channels = self.g_width * 8
    dtype = self.compute_dtype  # UpConv4x4 computes in its input's dtype
    x = nn.Dense(4 * 4 * channels, use_bias=False, kernel_init=_INIT, dtype=dtype)(z).reshape(-1, 4, 4, channels)
    x = nn.relu(norm_layer(self.g_norm, train, dtype)(x))
    for _ in range(ups - 1):
      channels //= 2
      x = nn.relu(norm_layer(self.g_norm, train, dtype)(UpConv4x4(channels)(x)))
    return jnp.tanh(UpConv4x4(self.image_shape[-1])(x).astype(jnp.float32))


class Discriminator(nn.Module):
  image_shape: tuple[int, int, int]
  num_classes: int = 0
  d_width: int = 64
  d_norm: str = 'batch'
  spectral_norm: bool = False
  compute_dtype: str = 'float32'

  @nn.compact
  def __call__(self, images: jax.Array, labels: jax.Array | None = None, train: bool = True) -> jax.Array:
    dtype = self.compute_dtype  # DownConv4x4 computes in its input's dtype
    images = images.astype(dtype)
    if self.num_classes and labels is not None:
      planes = jnp.broadcast_to(jax.nn.one_hot(labels, self.num_classes, dtype=images.dtype)[:, None, None, :],
                                (*images.shape[:3], self.num_classes))
      images = jnp.concatenate([images, planes], axis=-1)

    def down(features, x):
      return spectral(DownConv4x4(features, kernel_init=_INIT), self.spectral_norm)(x, train)

    x = nn.leaky_relu(down(self.d_width, images), 0.2)
    channels = self.d_width
    for _ in range(_num_upsamplings(self.image_shape[0]) - 1):
      channels *= 2
      x = nn.leaky_relu(norm_layer(self.d_norm, train, dtype)(down(channels, x)), 0.2)
    last = nn.Conv(1, (4, 4), padding='VALID', use_bias=False, kernel_init=_INIT, dtype=dtype)  # 4x4 -> 1x1
    return spectral(last, self.spectral_norm)(x, train).reshape(-1).astype(jnp.float32)
