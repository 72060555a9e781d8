"""SRGAN (Ledig et al. 2017, Fig. 4): a residual super-resolution generator and a VGG-style discriminator.

G (SRResNet) maps a low-resolution image, image_shape reduced `scale` times, to image_shape: a 9x9
convolution + PReLU, res_blocks residual blocks (conv-BN-PReLU-conv-BN + skip), a conv-BN closed by a skip
from before the blocks, log2(scale) sub-pixel upsamplings (Shi et al. 2016: conv to 4x the channels, pixel
shuffle by 2, PReLU) and a 9x9 convolution to the image, with a tanh since images live in [-1, 1] here. With
the paper's B = 16 blocks of 64 channels at x4 it has 1,547,350 parameters. D: eight 3x3 convolutions from
d_width to 8 d_width channels, halving the resolution every other one, BN and LeakyReLU(0.2), then dense
d_dense, LeakyReLU and dense 1. Convolutions followed by BatchNorm have no bias: its shift absorbs one.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgan.errors import JganError
from jgan.nn.layers import norm_layer
from jgan.nn.resample import pixel_shuffle

DEFAULTS = {
    'scale': 4,  # the upsampling factor: G's input is image_shape's sides divided by it
    'g_width': 64,
    'res_blocks': 16,  # the paper's B
    'd_width': 64,
    'd_dense': 1024,
    # EnhanceNet's (Sajjadi et al. 2017) global residual: G adds its output to the bicubic upsampling of the
    # input instead of producing the image through a tanh. Off in the paper's SRGAN; the CPU demo turns it on,
    # since SRResNet alone needs far more than a CPU-sized run to draw even bicubic's colours and gradients.
    'bicubic_residual': False,
}
_PAD = ((1, 1), (1, 1))
GAME = 'paired'  # jgan.games.paired, with the low-resolution image as the input


def input_multiple(image_shape: tuple[int, int, int]) -> int:
  """SRResNet is fully convolutional with no down-sampling: any input size."""
  return 1


def check(model_cfg, image_shape: tuple[int, int, int]) -> None:
  height, width, _ = image_shape
  scale = model_cfg.scale
  if scale < 2 or scale & (scale - 1):
    raise JganError(f'srgan upsamples by a power of two >= 2, not {scale}: set config.model.scale to one')
  if height != width or height % scale or height % 16:
    raise JganError(f'srgan makes square images with a side divisible by the scale {scale} and by 16 (D halves '
                    f'it four times), not {height}x{width}: set config.data.resolution to one')


def _prelu() -> nn.PReLU:
  return nn.PReLU(negative_slope_init=0.25)  # one slope per layer, initialised as He et al. 2015 and PyTorch


class Generator(nn.Module):
  image_shape: tuple[int, int, int]
  scale: int = 4
  g_width: int = 64
  res_blocks: int = 16
  bicubic_residual: bool = False
  compute_dtype: str = 'float32'

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = True) -> jax.Array:
    """x [B, H / scale, W / scale, C] -> images [B, H, W, C] in [-1, 1]; labels are unused."""
    dtype = self.compute_dtype
    conv3 = lambda features: nn.Conv(features, (3, 3), padding=_PAD, use_bias=False, dtype=dtype)
    batch_norm = lambda h: norm_layer('batch', train, dtype)(h)
    low = x
    x = _prelu()(nn.Conv(self.g_width, (9, 9), padding=((4, 4), (4, 4)), dtype=dtype)(x))
    skip = x
    for _ in range(self.res_blocks):
      h = _prelu()(batch_norm(conv3(self.g_width)(x)))
      x = x + batch_norm(conv3(self.g_width)(h))
    x = skip + batch_norm(conv3(self.g_width)(x))
    for _ in range(int(math.log2(self.scale))):
      x = _prelu()(pixel_shuffle(nn.Conv(4 * self.g_width, (3, 3), padding=_PAD, dtype=dtype)(x), 2))
    # A residual starts at zero, so that G starts as the bicubic upsampling it refines.
    init = nn.initializers.zeros if self.bicubic_residual else nn.initializers.lecun_normal()
    out = nn.Conv(self.image_shape[-1], (9, 9), padding=((4, 4), (4, 4)), kernel_init=init, dtype=dtype)(x)
    out = out.astype(jnp.float32)
    if self.bicubic_residual:
      return jax.image.resize(low, (*x.shape[:3], self.image_shape[-1]), 'bicubic') + out
    return jnp.tanh(out)


class Discriminator(nn.Module):
  image_shape: tuple[int, int, int]
  d_width: int = 64
  d_dense: int = 1024
  compute_dtype: str = 'float32'

  @nn.compact
  def __call__(self, images: jax.Array, labels: jax.Array | None = None, train: bool = True) -> jax.Array:
    """images [B, H, W, C] -> logits [B]; labels are unused."""
    dtype = self.compute_dtype
    x = nn.leaky_relu(nn.Conv(self.d_width, (3, 3), padding=_PAD, dtype=dtype)(images), 0.2)
    for mult, stride in ((1, 2), (2, 1), (2, 2), (4, 1), (4, 2), (8, 1), (8, 2)):
      x = nn.Conv(self.d_width * mult, (3, 3), strides=stride, padding=_PAD, use_bias=False, dtype=dtype)(x)
      x = nn.leaky_relu(norm_layer('batch', train, dtype)(x), 0.2)
    x = nn.leaky_relu(nn.Dense(self.d_dense, dtype=dtype)(x.reshape(x.shape[0], -1)), 0.2)
    return nn.Dense(1, dtype=dtype)(x)[:, 0].astype(jnp.float32)
