"""Pix2Pix (Isola et al. 2017): a U-Net generator from an input image and a PatchGAN discriminator.

As junyanz/pytorch-CycleGAN-and-pix2pix builds them (UnetGenerator, NLayerDiscriminator), with unet_256's
parameter count at 256x256 (54,413,955 with BatchNorm). G: 4x4 stride-2 convolutions down to 1x1, widths
g_width * min(2^i, 8), LeakyReLU(0.2); 4x4 stride-2 up-convolutions back, ReLU, each concatenated with the
mirrored encoder layer (Sec. 3.2.1); no norm on the outermost and innermost down convolutions; dropout, the
paper's only noise, in the decoder blocks between the 8 g_width encoder layers and the innermost one (the
paper keeps it at test time too: call G with train=True for that, as the reference's test.py does).
D: a PatchGAN (Sec. 3.2.2) classifying each overlapping 70x70 patch as real or fake; conditional on the
input image when given one, which joins the image on the channel axis. Convolutions carry a bias only when
the norm is 'instance' (BatchNorm's shift makes it redundant), as in the reference; weights ~ N(0, 0.02).
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgan.errors import JganError
from jgan.nn.layers import norm_layer
from jgan.nn.resample import UpConv4x4

DEFAULTS = {
    'input_channels': 3,  # of the input image G translates: the data's, Flax infers it in the networks
    'g_width': 64,  # the reference's ngf
    'd_width': 64,  # ndf
    'norm': 'batch',  # or 'instance'
    'dropout': 0.5,  # in G's decoder; 0 for none
    'd_layers': 3,  # the reference's n_layers: 3 is the 70x70 PatchGAN
}
_INIT = nn.initializers.normal(0.02)
_PAD = ((1, 1), (1, 1))
GAME = 'paired'  # jgan.games.paired: G maps an input image to its target
DISCRIMINATOR_SEES_INPUT = True  # D judges (input, output) pairs


def input_multiple(image_shape: tuple[int, int, int]) -> int:
  """The U-Net halves its input log2(resolution) times, so it takes sides that are multiples of that."""
  return image_shape[0]


def check(model_cfg, image_shape: tuple[int, int, int]) -> None:
  height, width, _ = image_shape
  if height != width or height < 8 or height & (height - 1):
    raise JganError(f'pix2pix makes square images with a power-of-two side >= 8 (its U-Net halves them to 1x1), '
                    f'not {height}x{width}: set config.data.resolution to one')


class Generator(nn.Module):
  image_shape: tuple[int, int, int]
  g_width: int = 64
  norm: str = 'batch'
  dropout: float = 0.5
  compute_dtype: str = 'float32'

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = True) -> jax.Array:
    """x [B, H, W, input_channels] -> images [B, H, W, image_shape[-1]] in [-1, 1]; labels are unused."""
    dtype = self.compute_dtype  # UpConv4x4 computes in its input's dtype
    depth = int(math.log2(self.image_shape[0]))
    widths = [self.g_width * min(2 ** i, 8) for i in range(depth)]
    bias = self.norm == 'instance'
    skips = []
    for i, width in enumerate(widths):
      x = nn.Conv(width, (4, 4), strides=2, padding=_PAD, use_bias=bias, kernel_init=_INIT, dtype=dtype)(x)
      if i == depth - 1:
        break
      if i > 0:
        x = norm_layer(self.norm, train, dtype)(x)
      # The reference's in-place LeakyReLU also rewrites the skip; the decoder's ReLU on it makes that moot.
      skips.append(x)
      x = nn.leaky_relu(x, 0.2)
    for i in reversed(range(1, depth)):  # the up path of the block whose down convolution was layer i
      x = UpConv4x4(widths[i - 1], use_bias=bias, kernel_init=_INIT)(nn.relu(x))
      x = norm_layer(self.norm, train, dtype)(x)
      if 4 <= i < depth - 1:  # the reference's num_downs - 5 blocks with use_dropout
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
      x = jnp.concatenate([skips[i - 1], x], axis=-1)
    return jnp.tanh(UpConv4x4(self.image_shape[-1], use_bias=True, kernel_init=_INIT)(nn.relu(x)).astype(jnp.float32))


def layer_stack(d_layers: int) -> list[tuple[int, int]]:
  """The PatchGAN's (kernel, stride) per convolution, all padded by 1: d_layers halvings, then two more."""
  return [(4, 2)] * d_layers + [(4, 1), (4, 1)]


def receptive_field(d_layers: int) -> int:
  """The side of the input patch each logit sees: 70 for d_layers = 3 (Isola et al. 2017, Sec. 3.2.2)."""
  field = 1
  for kernel, stride in reversed(layer_stack(d_layers)):
    field = field * stride + kernel - stride
  return field


class Discriminator(nn.Module):
  image_shape: tuple[int, int, int]
  d_width: int = 64
  norm: str = 'batch'
  d_layers: int = 3
  compute_dtype: str = 'float32'

  @nn.compact
  def __call__(self, images: jax.Array, condition: jax.Array | None = None, train: bool = True) -> jax.Array:
    """images [B, H, W, C] (and the input image `condition` for Pix2Pix) -> patch logits [B, H', W']."""
    x = images if condition is None else jnp.concatenate([condition, images], axis=-1)
    stack = layer_stack(self.d_layers)
    widths = [self.d_width * min(2 ** n, 8) for n in range(len(stack) - 1)] + [1]
    for n, ((kernel, stride), width) in enumerate(zip(stack, widths, strict=True)):
      inner = 0 < n < len(stack) - 1
      x = nn.Conv(width, (kernel, kernel), strides=stride, padding=_PAD, use_bias=not inner or self.norm == 'instance',
                  kernel_init=_INIT, dtype=self.compute_dtype)(x)
      if inner:
        x = norm_layer(self.norm, train, self.compute_dtype)(x)
      if n < len(stack) - 1:
        x = nn.leaky_relu(x, 0.2)
    return x[..., 0].astype(jnp.float32)
