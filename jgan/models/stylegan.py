"""StyleGAN (Karras et al. 2019), after the reference's networks_stylegan.py (G_style), at a fixed resolution:
no progressive growing (the reference's structure='fixed'), so G has one toRGB, at the end.

G: the mapping network f: Z -> W (Sec. 2; jgan.nn.equalized.MappingNetwork; `Generator.map`) gives w [B, w_dim],
broadcast to num_ws(resolution) per-layer styles ws [B, num_ws, w_dim]; style mixing and truncation make
other ws (jgan.nn.equalized.mix_styles and truncate) for `Generator(None, ws=ws)`. The synthesis network starts
from a learned 4x4 constant; each resolution has two layers, each [conv3 ->] noise -> bias -> LeakyReLU(0.2)
-> AdaIN with its own style, the first above 4x4 after nearest-neighbour 2x upsampling; a linear 1x1 toRGB
(no tanh, as the reference) ends it. The noise (Sec. 3.2) is one N(0, 1) image per layer and example, drawn
from the 'noise' rng and scaled per channel by learned weights that start at 0; noise_mode='const' adds none.
The reference's [1, 2, 1] blur after upsampling (Table 1, config B) is left out, as in D.
D: ProGAN's discriminator (the reference's D_basic without its blur) at the final level. Unconditional.
With the defaults at 1024x1024 RGB, G has 26,212,019 parameters (Sec. 2: 26.2M; the reference's 26,219,627
count a toRGB per level, for its progressive growing).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgan.models.progan import Discriminator, check, num_features, num_levels, upsample
from jgan.nn.equalized import EqualizedConv, EqualizedDense, MappingNetwork

DEFAULTS = {
    'z_dim': 512,
    'w_dim': 512,
    'mapping_layers': 8,
    'fmap_base': 8192,  # the channels at resolution 2^s are min(fmap_base / 2^(s - 1), fmap_max), as ProGAN's
    'fmap_max': 512,
    'mbstd_group': 4,
}
GAME = 'style'  # jgan.games.style: style mixing, the noise rng and the moving average of w for truncation
NOISE_MODES = ('random', 'const')  # 'const': no noise (zeros), for deterministic images

__all__ = ['DEFAULTS', 'GAME', 'NOISE_MODES', 'AdaIN', 'Discriminator', 'Generator', 'StyleLayer', 'Synthesis', 'check',
           'instance_norm', 'num_ws']


def num_ws(resolution: int) -> int:
  """The number of per-layer styles: two per resolution from 4x4 up."""
  return 2 * (int(math.log2(resolution)) - 1)


def noise_sides(resolution: int) -> list[int]:
  """The side of each synthesis layer's noise image, in order: two layers at each size from 4x4."""
  return [4 * 2 ** i for i in range(int(math.log2(resolution)) - 1) for _ in range(2)]


def instance_norm(x: jax.Array, epsilon: float = 1e-8) -> jax.Array:
  """Each example's channels to zero mean and unit variance over the pixels (the reference's instance_norm)."""
  y = x.astype(jnp.float32)
  y = y - jnp.mean(y, axis=(1, 2), keepdims=True)
  return (y * jax.lax.rsqrt(jnp.mean(jnp.square(y), axis=(1, 2), keepdims=True) + epsilon)).astype(x.dtype)


class AdaIN(nn.Module):
  """AdaIN (Sec. 2, Eq. 1) with the reference's style_mod: an equalised affine map of w gives per-channel
  (s, b), and y = (1 + s) instance_norm(x) + b. The +1 makes the style's scale start near 1 (and exactly 1,
  with b = 0, for w = 0 or a zero kernel: the bias starts at 0)."""

  @nn.compact
  def __call__(self, x: jax.Array, w: jax.Array) -> jax.Array:
    scale, bias = jnp.split(EqualizedDense(2 * x.shape[-1], name='affine')(w), 2, axis=-1)
    return instance_norm(x) * (1 + scale[:, None, None, :]) + bias[:, None, None, :]


class StyleLayer(nn.Module):
  """One synthesis layer (the reference's layer_epilogue, after its convolution): conv3 (none for the 4x4
  constant) -> noise -> bias -> LeakyReLU(0.2) -> AdaIN. The conv carries the equalised gain sqrt(2) as the
  reference's does; the instance norm right after the activation makes any gain there immaterial."""

  features: int
  conv: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, w: jax.Array, noise_mode: str = 'random',
               noise: jax.Array | None = None) -> jax.Array:
    """noise: this layer's noise image [B, H, W, 1]; None draws it as noise_mode says."""
    if noise_mode not in NOISE_MODES:
      raise ValueError(f"unknown noise_mode {noise_mode!r}: use one of {', '.join(NOISE_MODES)}")
    if self.conv:
      x = EqualizedConv(self.features, 3, gain=math.sqrt(2.0), use_bias=False, name='conv')(x)
    noise_scale = self.param('noise_scale', nn.initializers.zeros, (self.features,))
    if noise is None and noise_mode == 'random':
      noise = jax.random.normal(self.make_rng('noise'), (*x.shape[:3], 1), x.dtype)
    if noise is not None:
      x = x + noise.astype(x.dtype) * noise_scale.astype(x.dtype)
    x = nn.leaky_relu(x + self.param('bias', nn.initializers.zeros, (self.features,)).astype(x.dtype), 0.2)
    return AdaIN(name='adain')(x, w)


class Synthesis(nn.Module):
  """The synthesis network g: ws [B, num_ws, w_dim] -> images (float32), computed in the dtype of ws."""

  image_shape: tuple[int, int, int]
  fmap_base: int = 8192
  fmap_max: int = 512

  @nn.compact
  def __call__(self, ws: jax.Array, noise_mode: str = 'random', noise: Sequence[jax.Array] | None = None) -> jax.Array:
    """noise: explicit noise images for the layers, in order, of noise_sides(resolution)."""
    nf = lambda level: num_features(level + 1, self.fmap_base, self.fmap_max)
    noise = noise if noise is not None else [None] * num_ws(self.image_shape[0])
    const = self.param('const', nn.initializers.ones, (1, 4, 4, nf(0)))
    x = jnp.broadcast_to(const, (ws.shape[0], 4, 4, nf(0))).astype(ws.dtype)
    x = StyleLayer(nf(0), conv=False, name='layer_0')(x, ws[:, 0], noise_mode, noise[0])
    x = StyleLayer(nf(0), name='layer_1')(x, ws[:, 1], noise_mode, noise[1])
    for level in range(1, num_levels(self.image_shape)):
      i = 2 * level
      x = StyleLayer(nf(level), name=f'layer_{i}')(upsample(x), ws[:, i], noise_mode, noise[i])
      x = StyleLayer(nf(level), name=f'layer_{i + 1}')(x, ws[:, i + 1], noise_mode, noise[i + 1])
    return EqualizedConv(self.image_shape[-1], 1, name='to_rgb')(x).astype(jnp.float32)


class Generator(nn.Module):
  image_shape: tuple[int, int, int]
  z_dim: int = 512
  w_dim: int = 512
  mapping_layers: int = 8
  fmap_base: int = 8192
  fmap_max: int = 512
  compute_dtype: str = 'float32'  # of the synthesis network; the small mapping network stays float32

  def setup(self) -> None:
    self.mapping = MappingNetwork(self.w_dim, self.mapping_layers)
    self.synthesis = Synthesis(self.image_shape, self.fmap_base, self.fmap_max)

  def map(self, z: jax.Array) -> jax.Array:
    """w [B, w_dim] of z [B, z_dim], the style of every layer until mixed (jgan.nn.equalized.mix_styles)."""
    if z.shape[-1] != self.z_dim:
      raise ValueError(f'z has {z.shape[-1]} features, not z_dim {self.z_dim}')
    return self.mapping(z)

  def __call__(self, z: jax.Array | None, labels: jax.Array | None = None, train: bool = True, *,
               ws: jax.Array | None = None, noise_mode: str = 'random',
               noise: Sequence[jax.Array] | None = None) -> jax.Array:
    """Images [B, H, W, C] from z [B, z_dim], or from given styles ws [B, num_ws, w_dim] (mixed or truncated;
    z is then unused), with given per-layer noise images if `noise`. Initialise from z, so that the mapping
    network has its parameters."""
    del labels, train
    if ws is None:
      w = self.map(z)
      ws = jnp.broadcast_to(w[:, None, :], (w.shape[0], num_ws(self.image_shape[0]), w.shape[-1]))
    return self.synthesis(ws.astype(self.compute_dtype), noise_mode, noise)
