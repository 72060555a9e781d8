"""StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"), config F, laid out
as NVlabs' stylegan2-ada-pytorch (training/networks.py, its 'stylegan2' config), whose parameter counts it
matches: 30,370,060 in G and 29,012,513 in D at 1024x1024.

G: the mapping network z -> w (jgan.nn.equalized.MappingNetwork), then the synthesis network from a learned 4x4
constant through modulated, demodulated 3x3 convolutions (Sec. 2.2, eq. 1-3), each with per-pixel noise, in
the 'skip' output architecture (Fig. 7b): every resolution adds its ToRGB to the upsampled image below it.
D: the 'resnet' architecture (Fig. 7c), down to a 4x4 epilogue with the minibatch standard deviation.
Channels at resolution r: min(channel_base // r, channel_max). Resampling uses the [1, 3, 3, 1] FIR filter as
the reference's upfirdn2d does (jgan.nn.resample: the FIR filters, G's upsampling and D's downsampling 3x3
convolutions).
Mixed precision (model.num_bf16_res, model.conv_clamp) as the reference's fp16 layers, in bfloat16: the
highest resolutions of G and D compute in bfloat16 with their activations clamped, the parameters, the skip
image and the low resolutions in float32. bfloat16 has float32's exponent range, so the reference's fp16
weight pre-normalisation against overflow is not needed; the clamp is kept, since it also bounds activations
that grow large in training at any precision.
Style mixing, truncation in W (jgan.nn.equalized.mix_styles and truncate, on `Generator.map`'s w) and the
regularisers (R1, path length) belong to the training game (jgan.games.style) and the tools. Unconditional: labels
are ignored.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jgan.errors import JganError
from jgan.nn.convolution import conv2d_same
from jgan.nn.equalized import (
  EqualizedConv,
  EqualizedDense,
  MappingNetwork,
  he_constant,
  leaky_relu_gain,
  minibatch_stddev,
)
from jgan.nn.resample import blur_down_conv_3x3, fir_downsample_2x, fir_upsample_2x, upsample_conv_3x3

DEFAULTS = {
    'z_dim': 512,
    'w_dim': 512,
    'mapping_layers': 8,
    'channel_base': 32768,  # config F's larger networks; configs A-E: 16384
    'channel_max': 512,
    'mbstd_group': 4,  # D's minibatch standard-deviation groups; the batch must divide by min(group, batch)
    # Mixed precision as the reference's num_fp16_res / conv_clamp (4 and 256 in its configs), in bfloat16:
    'num_bf16_res': 0,  # the highest resolutions of G and D (at least 8x8) computed in bfloat16; 0: float32
    # (model.compute_dtype = 'bfloat16', every family's switch, computes all of them, from 8x8, in bfloat16)
    'conv_clamp': 0.0,  # clamp every convolution's activations to [-c, c]; 0: no clamping
}
NOISE_MODES = ('random', 'const')
GAME = 'style'  # jgan.games.style: style mixing, lazy R1 and path-length regularisation, the moving average of w


def check(model_cfg, image_shape: tuple[int, int, int]) -> None:
  del model_cfg
  height, width, _ = image_shape
  if height != width or height < 8 or height & (height - 1):
    raise JganError(f'stylegan2 makes square images whose side is a power of two from 8, not {height}x{width}: '
                    f'set config.data.resolution to 8, 16, 32, ...')


def num_ws(resolution: int) -> int:
  """The number of w vectors the synthesis network takes: one per modulated convolution (one at 4x4, two at
  each resolution above) plus the last ToRGB; every other ToRGB shares the w of the next convolution."""
  return 2 * int(math.log2(resolution)) - 2


def noise_sides(resolution: int) -> list[int]:
  """The side of each synthesis layer's noise image, in order: one layer at 4x4, two at each higher size."""
  return [4] + [4 * 2 ** i for i in range(1, int(math.log2(resolution)) - 1) for _ in range(2)]


def bf16_resolutions(num_bf16_res: int, compute_dtype: str, resolution: int) -> int:
  """The number of resolutions computed in bfloat16: num_bf16_res, or all of them with compute_dtype bfloat16."""
  return int(math.log2(resolution)) if compute_dtype == 'bfloat16' else num_bf16_res


def block_dtype(resolution: int, final_resolution: int, num_bf16_res: int) -> jnp.dtype:
  """bfloat16 for the num_bf16_res highest resolutions, down to 8x8 at most (the reference's fp16_resolution);
  float32 below. The parameters, the 4x4 epilogue, w and the skip image stay float32."""
  first = max(final_resolution // 2 ** (num_bf16_res - 1), 8) if num_bf16_res else final_resolution * 2
  return jnp.bfloat16 if resolution >= first else jnp.float32


def _clamp(x: jax.Array, clamp: float) -> jax.Array:
  """The reference's conv_clamp: keeps reduced-precision activations from growing without bound."""
  return jnp.clip(x, -clamp, clamp) if clamp else x


def _channels(resolution: int, channel_base: int, channel_max: int) -> int:
  return min(channel_base // resolution, channel_max)


def modulated_conv(x: jax.Array, weight: jax.Array, styles: jax.Array, demodulate: bool = True,
                   up: bool = False) -> jax.Array:
  """The modulated convolution (Sec. 2.2): w'_ijk = s_i w_ijk (eq. 1), then with demodulation
  w''_ijk = w'_ijk / sigma_j, sigma_j = sqrt(sum_ik w'_ijk^2 + 1e-8) (eq. 2-3), for each example.

  Computed as the reference's fused_modconv=False path: scale the input channels by s, convolve with the
  shared weight, scale the output channels by 1 / sigma; convolution is linear in each input channel and
  sigma does not depend on the pixel, so this equals the per-example kernel w''. The fused form, one grouped
  convolution over the batch (feature_group_count = B), has a gradient that XLA's CPU backend computes many
  times slower. The reference trains this way too.

  Args:
    x: [B, H, W, I]. weight: [k, k, I, O], already equalised. styles: [B, I].
    up: upsample 2x first, as the reference's transposed convolution followed by the [1, 3, 3, 1] blur:
      here the FIR upsampling then the 3x3 convolution (upsample_conv_3x3), the same operator and parameters.
  Returns:
    [B, H, W, O], or [B, 2H, 2W, O] with up.
  """
  y = x * styles[:, None, None, :].astype(x.dtype)
  if up:
    if weight.shape[:2] != (3, 3):
      raise ValueError(f'the upsampling modulated convolution is 3x3, not {weight.shape[0]}x{weight.shape[1]}')
    y = upsample_conv_3x3(y, weight)
  else:
    y = conv2d_same(y, weight.astype(x.dtype))
  if demodulate:  # sum_ik (s_i w_ijk)^2 = sum_i s_i^2 sum_k w_ijk^2
    sigma_inv = lax.rsqrt(jnp.square(styles) @ jnp.sum(jnp.square(weight), axis=(0, 1)) + 1e-8)
    y = y * sigma_inv[:, None, None, :].astype(y.dtype)
  return y


class ModulatedConv(nn.Module):
  """A synthesis layer (the reference's SynthesisLayer): the affine map A from w to the styles (bias 1, so
  that the styles start near 1), the modulated convolution, noise times a learned strength (one scalar per
  layer, initially 0; the noise is one channel [B, H, W, 1] broadcast over the features), bias and LeakyReLU.

  noise: given explicitly, or drawn from the 'noise' rng when noise_mode is 'random'; 'const' adds none (the
  reference's 'const' adds a fixed noise image kept as a buffer per layer; here there are no such buffers).
  """

  features: int
  kernel_size: int = 3
  up: bool = False
  clamp: float = 0.0

  @nn.compact
  def __call__(self, x: jax.Array, w: jax.Array, noise: jax.Array | None = None,
               noise_mode: str = 'random') -> jax.Array:
    k, channels = self.kernel_size, x.shape[-1]
    styles = EqualizedDense(channels, bias_init=1.0, name='affine')(w)
    kernel = self.param('kernel', nn.initializers.normal(1.0), (k, k, channels, self.features))
    # Demodulation cancels the He constant, kept so that the weight is stored as the other equalised ones.
    y = modulated_conv(x, kernel * he_constant(k * k * channels), styles, up=self.up)
    strength = self.param('noise_strength', nn.initializers.zeros, ())
    # At init the output only shapes the parameters: no 'noise' key needed (games init with 'params' alone).
    if noise is None and noise_mode == 'random' and not self.is_initializing():
      noise = jax.random.normal(self.make_rng('noise'), (*y.shape[:3], 1), y.dtype)
    if noise is not None:
      y = y + strength.astype(y.dtype) * noise.astype(y.dtype)
    y = leaky_relu_gain(y + self.param('bias', nn.initializers.zeros, (self.features,)).astype(y.dtype))
    return _clamp(y, self.clamp)


class ToRGB(nn.Module):
  """A 1x1 modulated convolution without demodulation to the image channels, plus a bias; linear."""

  features: int
  clamp: float = 0.0

  @nn.compact
  def __call__(self, x: jax.Array, w: jax.Array) -> jax.Array:
    channels = x.shape[-1]
    styles = EqualizedDense(channels, bias_init=1.0, name='affine')(w)
    kernel = self.param('kernel', nn.initializers.normal(1.0), (1, 1, channels, self.features))
    y = modulated_conv(x, kernel * he_constant(channels), styles, demodulate=False)
    y = _clamp(y + self.param('bias', nn.initializers.zeros, (self.features,)).astype(y.dtype), self.clamp)
    return y.astype(jnp.float32)  # the skip image accumulates in float32


class SynthesisNetwork(nn.Module):
  """ws [B, num_ws(resolution), w_dim] -> images [B, resolution, resolution, image_channels], linear.

  As the reference's block layout: at 4x4 the constant, one convolution (w 0) and ToRGB (w 1); at each
  higher resolution block i (from 1) the upsampling convolution (w 2i - 1), a convolution (w 2i) and ToRGB
  (w 2i + 1), added to the FIR-upsampled image of the resolution below.
  """

  resolution: int
  image_channels: int = 3
  channel_base: int = 32768
  channel_max: int = 512
  num_bf16_res: int = 0
  conv_clamp: float = 0.0

  @nn.compact
  def __call__(self, ws: jax.Array, noise_mode: str = 'random', noise: Sequence[jax.Array] | None = None) -> jax.Array:
    """noise: explicit noise images for the layers, in order, of noise_sides(resolution) (projection
    optimises them); None draws them as noise_mode says."""
    if ws.shape[1] != num_ws(self.resolution):
      raise ValueError(f'the synthesis network at {self.resolution}x{self.resolution} takes '
                       f'{num_ws(self.resolution)} ws, not {ws.shape[1]}')
    noises = iter(noise) if noise is not None else None
    layer_noise = lambda: next(noises) if noises is not None else None
    channels = lambda r: _channels(r, self.channel_base, self.channel_max)
    const = self.param('const', nn.initializers.normal(1.0), (4, 4, channels(4)))
    dtype = lambda r: block_dtype(r, self.resolution, self.num_bf16_res)
    clamp = self.conv_clamp
    x = jnp.broadcast_to(const.astype(dtype(4)), (ws.shape[0], *const.shape))
    x = ModulatedConv(channels(4), clamp=clamp, name='b4_conv1')(x, ws[:, 0], layer_noise(), noise_mode)
    image = ToRGB(self.image_channels, clamp, name='b4_torgb')(x, ws[:, 1])
    for i in range(1, int(math.log2(self.resolution)) - 1):
      r = 4 * 2 ** i
      x = x.astype(dtype(r))
      x = ModulatedConv(channels(r), up=True, clamp=clamp, name=f'b{r}_conv0')(x, ws[:, 2 * i - 1], layer_noise(),
                                                                              noise_mode)
      x = ModulatedConv(channels(r), clamp=clamp, name=f'b{r}_conv1')(x, ws[:, 2 * i], layer_noise(), noise_mode)
      image = fir_upsample_2x(image) + ToRGB(self.image_channels, clamp, name=f'b{r}_torgb')(x, ws[:, 2 * i + 1])
    return image


class Generator(nn.Module):
  """z [B, z_dim] -> images [B, H, W, C]. The output is linear, not squashed by tanh, as in the reference:
  the real images it is compared with lie in [-1, 1], and samples are clipped to that range when saved
  (jgan.writer).

  `map(z)` gives w [B, w_dim] (module.apply(variables, z, method=Generator.map)); given ws
  [B, num_ws, w_dim] (style mixing, truncation), the mapping is skipped and z may be None. noise_mode 'random'
  draws the noise from the 'noise' rng (rngs={'noise': key} in apply); 'const' adds none: deterministic samples.
  """

  image_shape: tuple[int, int, int]
  z_dim: int = 512
  w_dim: int = 512
  mapping_layers: int = 8
  channel_base: int = 32768
  channel_max: int = 512
  num_bf16_res: int = 0
  conv_clamp: float = 0.0
  compute_dtype: str = 'float32'

  def setup(self):
    self.mapping = MappingNetwork(self.w_dim, self.mapping_layers)
    bf16_res = bf16_resolutions(self.num_bf16_res, self.compute_dtype, self.image_shape[0])
    self.synthesis = SynthesisNetwork(self.image_shape[0], self.image_shape[-1], self.channel_base,
                                      self.channel_max, bf16_res, self.conv_clamp)

  def map(self, z: jax.Array) -> jax.Array:
    if z.shape[-1] != self.z_dim:
      raise ValueError(f'the generator takes z of {self.z_dim} features, not {z.shape[-1]}')
    return self.mapping(z)

  def __call__(self, z: jax.Array | None, labels: jax.Array | None = None, train: bool = True, *,
               ws: jax.Array | None = None, noise_mode: str = 'random',
               noise: Sequence[jax.Array] | None = None) -> jax.Array:
    del labels, train  # unconditional, and nothing differs in training: no batch statistics or dropout
    if noise_mode not in NOISE_MODES:
      raise ValueError(f'unknown noise_mode {noise_mode!r}: use one of {", ".join(NOISE_MODES)}')
    if ws is None:
      w = self.map(z)
      ws = jnp.broadcast_to(w[:, None], (w.shape[0], num_ws(self.image_shape[0]), w.shape[-1]))
    return self.synthesis(ws, noise_mode, noise)


class DownConv(nn.Module):
  """blur_down_conv_3x3 with an equalised kernel, plus a bias."""

  features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', nn.initializers.normal(1.0), (3, 3, x.shape[-1], self.features))
    y = blur_down_conv_3x3(x, (kernel * he_constant(9 * x.shape[-1])).astype(x.dtype))
    return y + self.param('bias', nn.initializers.zeros, (self.features,)).astype(y.dtype)


class Discriminator(nn.Module):
  """images [B, H, W, C] -> logits [B]: FromRGB (1x1) at the top resolution, a residual block per resolution
  down to 8x8, then the epilogue at 4x4: minibatch standard deviation, 3x3 conv, dense, dense to one logit.

  A block (Fig. 7c) of C channels at its input: 3x3 conv to C, 3x3 conv down to the next resolution's
  channels, plus a skip path of FIR downsampling and a 1x1 conv without bias; the sum is scaled by
  1/sqrt(2) to keep the variance. The batch must divide by min(mbstd_group, batch).
  """

  image_shape: tuple[int, int, int]
  channel_base: int = 32768
  channel_max: int = 512
  mbstd_group: int = 4
  num_bf16_res: int = 0
  conv_clamp: float = 0.0
  compute_dtype: str = 'float32'

  @nn.compact
  def __call__(self, images: jax.Array, labels: jax.Array | None = None, train: bool = True) -> jax.Array:
    del labels, train  # unconditional, and nothing differs in training
    channels = lambda r: _channels(r, self.channel_base, self.channel_max)
    act = lambda y: _clamp(leaky_relu_gain(y), self.conv_clamp)
    r = self.image_shape[0]
    bf16_res = bf16_resolutions(self.num_bf16_res, self.compute_dtype, r)
    x = images.astype(block_dtype(r, r, bf16_res))
    x = act(EqualizedConv(channels(r), kernel_size=1, name=f'b{r}_fromrgb')(x))
    while r > 4:
      x = x.astype(block_dtype(r, self.image_shape[0], bf16_res))
      skip = EqualizedConv(channels(r // 2), kernel_size=1, use_bias=False, name=f'b{r}_skip')(fir_downsample_2x(x))
      x = act(EqualizedConv(channels(r), name=f'b{r}_conv0')(x))
      x = act(DownConv(channels(r // 2), name=f'b{r}_conv1')(x))
      x = (x + skip) * math.sqrt(0.5)  # the reference clamps the convolutions, not the skip path
      r //= 2
    x = minibatch_stddev(x.astype(jnp.float32), self.mbstd_group, 1)
    x = leaky_relu_gain(EqualizedConv(channels(4), name='b4_conv')(x))
    # Flattened in NHWC order where the reference flattens NCHW: the same layer, its rows permuted.
    x = leaky_relu_gain(EqualizedDense(channels(4), name='b4_fc')(x.reshape(x.shape[0], -1)))
    return EqualizedDense(1, name='b4_out')(x)[:, 0]
