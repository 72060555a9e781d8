"""BigGAN (Brock et al. 2019), the residual generator and discriminator as BigGAN-PyTorch builds them.

G: a linear map of z's first chunk to 4x4 x (16 ch); residual up-blocks (conditional BatchNorm, ReLU,
nearest 2x upsampling, 3x3 convolutions; 1x1 shortcut); SAGAN self-attention at the configured
resolutions; BatchNorm, ReLU, 3x3 convolution, tanh. Each block's BatchNorm gain and bias are linear maps
of [shared class embedding, that block's chunk of z] (the hierarchical latent, Sec. 3 and Fig. 15).
D: residual down-blocks (ReLU pre-activation after the first, 2x2 average pooling), self-attention,
ReLU, sum over space, and the projection head (Miyato and Koyama 2018). Spectral norm in G and D,
orthogonal initialisation. With ch = 96 at 128x128: 70.4M parameters in G and 88.0M in D.

With `shared_dim = 0` the conditional BatchNorm uses per-class gains and biases instead (the projection
paper's SNGAN generator); jgan.models.sngan is this architecture with those settings.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgan.errors import JganError
from jgan.nn.layers import BatchNorm, ConditionalBatchNorm, Projection, SelfAttention, spectral

DEFAULTS = {
    'z_dim': 120,
    'num_classes': 0,  # BigGAN is class-conditional: set this to the dataset's number of classes
    'g_ch': 96,
    'd_ch': 96,
    'shared_dim': 128,  # the shared class embedding; 0 gives per-class BatchNorm gains and biases (SNGAN)
    'hierarchical_z': True,  # z split over the blocks, each chunk conditioning one block's BatchNorm
    'g_attention': (64,),  # resolutions after which a self-attention block follows
    'd_attention': (64,),
    'g_spectral_norm': True,
    'd_spectral_norm': True,
}
# Channel multipliers of ch per block, from BigGAN-PyTorch's G_arch and D_arch.
_G_CHANNELS = {32: (4, 4, 4, 4), 64: (16, 16, 8, 4, 2), 128: (16, 16, 8, 4, 2, 1),
               256: (16, 16, 8, 8, 4, 2, 1)}  # the input, then each block's output
_D_CHANNELS = {32: (4, 4, 4, 4), 64: (1, 2, 4, 8, 16), 128: (1, 2, 4, 8, 16, 16),
               256: (1, 2, 4, 8, 8, 16, 16)}  # each block's output
_D_DOWNSAMPLE = {32: 2, 64: 4, 128: 5, 256: 6}  # the first n blocks halve the resolution
RESOLUTIONS = tuple(_G_CHANNELS)
_INIT = nn.initializers.orthogonal()


def check(model_cfg, image_shape: tuple[int, int, int]) -> None:
  height, width, _ = image_shape
  if height != width or height not in RESOLUTIONS:
    raise JganError(f'{model_cfg.name} makes square images of side {RESOLUTIONS}, not {height}x{width}: '
                    f'set config.data.resolution to one of those')
  if model_cfg.hierarchical_z and not model_cfg.shared_dim:
    raise JganError('model.hierarchical_z needs model.shared_dim > 0 (the chunks join the shared embedding)')
  if model_cfg.shared_dim and not model_cfg.num_classes:
    raise JganError('model.shared_dim > 0 needs model.num_classes: set it to the number of classes in the data')
  slots = len(_G_CHANNELS[height]) if model_cfg.hierarchical_z else 1
  if model_cfg.z_dim % slots:
    raise JganError(f'model.z_dim={model_cfg.z_dim} does not split into {slots} equal chunks: use a multiple')


def _conv(features: int, kernel: int, dtype, sn: bool, name: str | None = None):
  return spectral(nn.Conv(features, (kernel, kernel), padding='SAME', kernel_init=_INIT, dtype=dtype, name=name), sn)


def _upsample(x: jax.Array) -> jax.Array:
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)  # nearest neighbour, as F.interpolate


def _downsample(x: jax.Array) -> jax.Array:
  return nn.avg_pool(x, (2, 2), strides=(2, 2))


class GBlock(nn.Module):
  """BN, ReLU, upsample, conv3x3, BN, ReLU, conv3x3; plus upsample and conv1x1 on the shortcut."""

  features: int
  num_classes: int  # per-class BatchNorm tables; 0 with a condition vector (projected) or None (plain BN)
  spectral_norm: bool
  dtype: jnp.dtype

  @nn.compact
  def __call__(self, x: jax.Array, condition: jax.Array | None, train: bool) -> jax.Array:
    def bn(h):
      if condition is None:
        return BatchNorm(use_running_average=not train, dtype=self.dtype)(h)
      return ConditionalBatchNorm(self.num_classes, self.spectral_norm, dtype=self.dtype)(h, condition, train)

    h = _conv(self.features, 3, self.dtype, self.spectral_norm)(_upsample(nn.relu(bn(x))), train)
    h = _conv(self.features, 3, self.dtype, self.spectral_norm)(nn.relu(bn(h)), train)
    return h + _conv(self.features, 1, self.dtype, self.spectral_norm)(_upsample(x), train)


class DBlock(nn.Module):
  """[ReLU,] conv3x3, ReLU, conv3x3, [avg-pool]; shortcut conv1x1 and pool (BigGAN-PyTorch's DBlock, wide)."""

  features: int
  downsample: bool
  preactivation: bool
  spectral_norm: bool
  dtype: jnp.dtype

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    h = nn.relu(x) if self.preactivation else x
    h = _conv(self.features, 3, self.dtype, self.spectral_norm)(h, train)
    h = _conv(self.features, 3, self.dtype, self.spectral_norm)(nn.relu(h), train)
    shortcut = x
    if self.downsample:
      # Average pooling and a 1x1 convolution commute, so the shortcut pools first, the cheaper order
      # (BigGAN-PyTorch convolves first in the pre-activation blocks: the same function).
      h, shortcut = _downsample(h), _downsample(x)
    if self.features != x.shape[-1] or self.downsample:
      shortcut = _conv(self.features, 1, self.dtype, self.spectral_norm)(shortcut, train)
    return h + shortcut


class Generator(nn.Module):
  image_shape: tuple[int, int, int]
  num_classes: int = 0
  g_ch: int = 96
  shared_dim: int = 128
  hierarchical_z: bool = True
  g_attention: tuple[int, ...] = (64,)
  g_spectral_norm: bool = True
  compute_dtype: str = 'float32'

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None, train: bool = True) -> jax.Array:
    dtype = jnp.dtype(self.compute_dtype)
    sn = self.g_spectral_norm
    channels = [m * self.g_ch for m in _G_CHANNELS[self.image_shape[0]]]
    blocks = len(channels) - 1
    chunks = jnp.split(z, blocks + 1, axis=-1) if self.hierarchical_z else [z] * (blocks + 1)
    conditional = self.num_classes > 0 and labels is not None
    if conditional and self.shared_dim:
      shared = nn.Embed(self.num_classes, self.shared_dim, embedding_init=_INIT, name='shared_embedding')(labels)
      conditions = [jnp.concatenate([shared, c], -1) if self.hierarchical_z else shared for c in chunks[1:]]
    else:
      conditions = [labels if conditional else None] * blocks
    dense = spectral(nn.Dense(16 * channels[0], kernel_init=_INIT, dtype=dtype), sn)
    x = dense(chunks[0].astype(dtype), train).reshape(-1, 4, 4, channels[0])
    for index in range(blocks):
      x = GBlock(channels[index + 1], 0 if self.shared_dim else self.num_classes, sn, dtype)(
          x, conditions[index], train)
      if x.shape[1] in self.g_attention:
        x = SelfAttention(sn, dtype)(x, train)
    x = nn.relu(BatchNorm(use_running_average=not train, dtype=dtype)(x))
    x = _conv(self.image_shape[-1], 3, dtype, sn)(x, train)
    return jnp.tanh(x.astype(jnp.float32))


class Discriminator(nn.Module):
  image_shape: tuple[int, int, int]
  num_classes: int = 0
  d_ch: int = 96
  d_attention: tuple[int, ...] = (64,)
  d_spectral_norm: bool = True
  compute_dtype: str = 'float32'

  @nn.compact
  def __call__(self, images: jax.Array, labels: jax.Array | None = None, train: bool = True) -> jax.Array:
    dtype = jnp.dtype(self.compute_dtype)
    sn = self.d_spectral_norm
    resolution = self.image_shape[0]
    x = images.astype(dtype)
    for index, multiplier in enumerate(_D_CHANNELS[resolution]):
      x = DBlock(multiplier * self.d_ch, index < _D_DOWNSAMPLE[resolution], index > 0, sn, dtype)(x, train)
      if x.shape[1] in self.d_attention:
        x = SelfAttention(sn, dtype)(x, train)
    features = jnp.sum(nn.relu(x).astype(jnp.float32), axis=(1, 2))
    return Projection(self.num_classes, sn)(features, labels, train)
