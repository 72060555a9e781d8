"""CycleGAN (Zhu et al. 2017): Johnson et al.'s ResNet generator and the 70x70 PatchGAN, with InstanceNorm.

As junyanz/pytorch-CycleGAN-and-pix2pix builds them (ResnetGenerator, NLayerDiscriminator; Appendix 7.2 of
the paper): G is c7s1-g, d2g, d4g, res_blocks residual blocks of 4g channels, u2g, ug, c7s1-3, with reflection
padding, InstanceNorm + ReLU and a tanh output; resnet_9blocks has 11,378,179 parameters. D is Pix2Pix's
PatchGAN without a condition. G keeps the image's shape; jgan.games.cycle trains one G and D per direction.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgan.errors import JganError
from jgan.models.pix2pix import Discriminator
from jgan.nn.layers import norm_layer
from jgan.nn.resample import UpConv3x3

DEFAULTS = {
    'g_width': 64,  # the reference's ngf
    'd_width': 64,  # ndf
    'res_blocks': 9,  # the paper's choice at 256x256; 6 at 128x128
    'norm': 'instance',
    'd_layers': 3,  # PatchGAN halvings: 3 is the 70x70 PatchGAN
}
_INIT = nn.initializers.normal(0.02)
GAME = 'cycle'  # jgan.games.cycle: two generators and two discriminators

__all__ = ['DEFAULTS', 'GAME', 'Discriminator', 'Generator', 'check', 'input_multiple']


def check(model_cfg, image_shape: tuple[int, int, int]) -> None:
  height, width, _ = image_shape
  if height != width or height % 4:
    raise JganError(f'cyclegan makes square images with a side divisible by 4 (G halves it twice), '
                    f'not {height}x{width}: set config.data.resolution to one')


def input_multiple(image_shape: tuple[int, int, int]) -> int:
  """G halves its input twice and doubles it back: sides that are multiples of 4."""
  return 4


def _reflect(x: jax.Array, pad: int) -> jax.Array:
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode='reflect')  # PyTorch's ReflectionPad2d


class Generator(nn.Module):
  image_shape: tuple[int, int, int]
  g_width: int = 64
  res_blocks: int = 9
  norm: str = 'instance'
  compute_dtype: str = 'float32'

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = True) -> jax.Array:
    """x [B, H, W, C] -> images of the same shape in [-1, 1]; labels are unused."""
    bias = self.norm == 'instance'  # the reference's use_bias: BatchNorm's shift would make a bias redundant
    dtype = self.compute_dtype  # UpConv3x3 computes in its input's dtype
    conv = lambda features, kernel, strides=1, padding='VALID', use_bias=bias: nn.Conv(
        features, (kernel, kernel), strides=strides, padding=padding, use_bias=use_bias, kernel_init=_INIT, dtype=dtype)
    norm = lambda h: norm_layer(self.norm, train, dtype)(h)
    norm_relu = lambda h: nn.relu(norm(h))
    x = norm_relu(conv(self.g_width, 7)(_reflect(x.astype(dtype), 3)))
    for mult in (2, 4):
      x = norm_relu(conv(self.g_width * mult, 3, strides=2, padding=((1, 1), (1, 1)))(x))
    for _ in range(self.res_blocks):
      h = norm_relu(conv(self.g_width * 4, 3)(_reflect(x, 1)))
      x = x + norm(conv(self.g_width * 4, 3)(_reflect(h, 1)))
    for mult in (2, 1):
      x = norm_relu(UpConv3x3(self.g_width * mult, use_bias=bias, kernel_init=_INIT)(x))
    return jnp.tanh(conv(self.image_shape[-1], 7, use_bias=True)(_reflect(x, 3)).astype(jnp.float32))
