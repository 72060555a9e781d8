"""Layers shared by the model families."""
from __future__ import annotations

import functools
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp


def _shifted(x: jax.Array, rows: int, cols: int) -> jax.Array:
  """y[:, m, n] = x[:, m + rows, n + cols] over x's [B, H, W, ...] positions, zero where that falls outside."""
  height, width = x.shape[1:3]
  inside = x[:, max(rows, 0):height + min(rows, 0), max(cols, 0):width + min(cols, 0)]
  widths = [(0, 0), (max(-rows, 0), max(rows, 0)), (max(-cols, 0), max(cols, 0))] + [(0, 0)] * (x.ndim - 3)
  return jnp.pad(inside, widths)


def _sub_pixel_up(x: jax.Array, kernel: jax.Array, phase_taps, pad: int) -> jax.Array:
  """A stride-2 transposed convolution as one matrix product and shifted sums, its four output phases interleaved.

  The product [B H W, in] x [in, k k out] gives every input pixel's contribution through every kernel tap;
  phase_taps[a] lists, for output rows 2m + a, the (offset, kernel tap) pairs: the contribution of input row
  m + offset - pad reaches it through kernel row `tap`; the same for columns. Shifting the contributions
  (rather than padding the input, or them) keeps the large [B, H, W, k, k, out] tensor from being copied:
  about 2x faster on XLA's CPU backend.
  """
  batch, height, width, channels = x.shape
  size, features = kernel.shape[0], kernel.shape[-1]
  taps = x.reshape(-1, channels) @ kernel.transpose(2, 0, 1, 3).reshape(channels, size * size * features)
  return _phase_sums(taps.reshape(batch, height, width, size, size, features), phase_taps, pad)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def _phase_sums(taps: jax.Array, phase_taps, pad: int) -> jax.Array:
  """[B, H, W, k, k, C] contributions -> the [B, 2H, 2W, C] output of `_sub_pixel_up`.

  A linear map with a hand-written adjoint: JAX would transpose each tap's slice into a zero-padded copy of the
  whole [B, H, W, k, k, C] tensor and add the k * k copies (about 2x slower for DCGAN's generator backward on
  XLA's CPU backend); each tap's gradient is one shifted slice of one output phase, so the adjoint stacks them.
  Reverse mode only, as every custom_vjp: nothing in jgan takes forward-mode derivatives through a generator.
  """
  batch, height, width, _, _, features = taps.shape
  rows = []
  for row_taps in phase_taps:
    cols = [sum(_shifted(taps[:, :, :, kr, kc], r - pad, c - pad) for r, kr in row_taps for c, kc in col_taps)
            for col_taps in phase_taps]
    rows.append(jnp.stack(cols, axis=3))  # [B, H, W, 2 (b), C]
  return jnp.stack(rows, axis=2).reshape(batch, 2 * height, 2 * width, features)  # [B, H, 2 (a), W, 2, C]


def _phase_sums_forward(taps: jax.Array, phase_taps, pad: int):
  return _phase_sums(taps, phase_taps, pad), taps.shape[3]


def _phase_sums_adjoint(phase_taps, pad: int, size: int, cotangent: jax.Array) -> tuple[jax.Array]:
  batch, height, width, features = cotangent.shape
  phases = cotangent.reshape(batch, height // 2, 2, width // 2, 2, features)
  # Each kernel row serves one output row phase (stride 2), and every tap serves one: each tap's gradient is
  # the cotangent of that phase shifted back.
  tap_gradients = {(kr, kc): _shifted(phases[:, :, a, :, b], pad - r, pad - c)
                   for a, row_taps in enumerate(phase_taps) for r, kr in row_taps
                   for b, col_taps in enumerate(phase_taps) for c, kc in col_taps}
  return (jnp.stack([jnp.stack([tap_gradients[kr, kc] for kc in range(size)], axis=3) for kr in range(size)],
                    axis=3),)


_phase_sums.defvjp(_phase_sums_forward, _phase_sums_adjoint)


# For a 4x4, stride-2, padding-1 transposed convolution, from o = 2i - 1 + k: output row 2m receives input
# rows m - 1 and m through kernel taps 3 and 1, and row 2m + 1 rows m and m + 1 through taps 2 and 0 (the
# offsets below are counted from row m - 1, the padding).
_TAPS_4X4 = (((0, 3), (1, 1)), ((1, 2), (2, 0)))


def _kernel_layer(module: nn.Module, x: jax.Array, size: int,
                  apply: Callable[[jax.Array, jax.Array], jax.Array]) -> jax.Array:
  """The body of the reformulated convolution layers below: their [size, size, in, out] kernel (initialised
  by module.kernel_init), `apply(x, kernel)`, and the bias if module.use_bias."""
  kernel = module.param('kernel', module.kernel_init, (size, size, x.shape[-1], module.features)).astype(x.dtype)
  y = apply(x, kernel)
  if module.use_bias:
    y = y + module.param('bias', nn.initializers.zeros, (module.features,)).astype(y.dtype)
  return y


class UpConv4x4(nn.Module):
  """PyTorch's ConvTranspose2d(kernel 4, stride 2, padding 1): doubles H and W (the DCGAN upsampler).

  Output pixel (2m + a, 2n + b) sees only a 2x2 window of the input through a 2x2 slice of the kernel. One
  matrix product gives every input pixel's contribution through each of the 16 taps; each of the four output
  phases sums four of them, shifted, and the phases are interleaved (sub-pixel form). The result equals the
  transposed convolution; on XLA's CPU backend it is much faster: the weight gradient of a strided
  `lax.conv_transpose` costs about 45x its forward pass there, and XLA's CPU convolutions are slow for few
  output channels (the RGB layer). See benchmarks/README.md. The kernel is stored as [4, 4, in, out] in the
  transposed convolution's order.
  """

  features: int
  use_bias: bool = False
  kernel_init: Callable = nn.initializers.normal(0.02)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return _kernel_layer(self, x, 4, lambda x, kernel: _sub_pixel_up(x, kernel, _TAPS_4X4, 1))


def down_conv_4x4(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """A 4x4, stride-2, padding-1 convolution ([4, 4, in, out] kernel) as one matrix product of 4x4 patches.

  With the input padded and cut into 2x2 blocks, output pixel (m, n) reads blocks m..m + 1, n..n + 1: four
  shifted slices, stacked into [B, H/2, W/2, 16 in] patches. Equal to the convolution; on XLA's CPU backend
  the double backward of WGAN-GP's penalty through it is 4-11x faster (D's 32x32x64 -> 16x16x128 layer,
  batch 64: 1,122 -> 259 ms; 16x16x128 -> 8x8x256: 1,657 -> 153 ms), as it avoids the strided convolution's
  input gradient, a transposed convolution whose weight gradient XLA CPU computes slowly. Single backward: a tie.
  """
  n, h, w, c = x.shape
  blocks = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))).reshape(n, h // 2 + 1, 2, w // 2 + 1, 2, c)
  shifted = jnp.stack([blocks[:, di:di + h // 2, :, dj:dj + w // 2] for di in range(2) for dj in range(2)])
  # [di, dj, n, m, a, n', b, c] -> [n, m, n', (di, a), (dj, b), c]: kernel row 2 di + a, column 2 dj + b.
  patches = shifted.reshape(2, 2, n, h // 2, 2, w // 2, 2, c).transpose(2, 3, 5, 0, 4, 1, 6, 7)
  return patches.reshape(n, h // 2, w // 2, 16 * c) @ kernel.reshape(16 * c, kernel.shape[-1])


class DownConv4x4(nn.Module):
  """PyTorch's Conv2d(kernel 4, stride 2, padding 1), DCGAN's downsampler, in `down_conv_4x4`'s patch form;
  the kernel is stored as nn.Conv's [4, 4, in, out]. Even input sides.

  On images (at most 4 channels) it is XLA's convolution instead: the patch form's gradient, scattered back
  into a thin [B, H, W, 3] input and transposed for the weight gradient, costs more than XLA's convolution
  there (the 64x64 RGB BCE DCGAN step on the CPU: 806 -> 646 ms; WGAN-GP's double backward: 1,066 -> 970 ms).
  """

  features: int
  use_bias: bool = False
  kernel_init: Callable = nn.initializers.normal(0.02)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if x.shape[-1] <= 4:
      return _kernel_layer(self, x, 4, lambda x, kernel: jax.lax.conv_general_dilated(
          x, kernel, (2, 2), ((1, 1), (1, 1)), dimension_numbers=('NHWC', 'HWIO', 'NHWC')))
    return _kernel_layer(self, x, 4, down_conv_4x4)


# For a 3x3, stride-2, padding-1, output-padding-1 transposed convolution, from o = 2i - 1 + k: output row 2m
# receives input row m through tap 1, and row 2m + 1 receives rows m and m + 1 through taps 2 and 0.
_TAPS_3X3 = (((0, 1),), ((0, 2), (1, 0)))


class UpConv3x3(nn.Module):
  """PyTorch's ConvTranspose2d(kernel 3, stride 2, padding 1, output_padding 1): doubles H and W (the
  upsampler of CycleGAN's ResNet generator, Zhu et al. 2017).

  In the sub-pixel form of `UpConv4x4`, for the same reason: output phase (a, b) sums the contributions of 1,
  2, 2 or 4 input pixels through the matching kernel taps. The last output row and column (the output
  padding) would read the row and column past the input through tap 0: zero.
  The kernel is stored as [3, 3, in, out] in the transposed convolution's order.
  """

  features: int
  use_bias: bool = True
  kernel_init: Callable = nn.initializers.normal(0.02)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return _kernel_layer(self, x, 3, lambda x, kernel: _sub_pixel_up(x, kernel, _TAPS_3X3, 0))


def pixel_shuffle(x: jax.Array, factor: int) -> jax.Array:
  """PyTorch's nn.PixelShuffle on NHWC (Shi et al. 2016, SRGAN's upsampler): input channel
  c * r * r + i * r + j becomes output pixel (h * r + i, w * r + j) of channel c."""
  batch, height, width, channels = x.shape
  out = channels // (factor * factor)
  x = x.reshape(batch, height, width, out, factor, factor).transpose(0, 1, 4, 2, 5, 3)  # [B, H, i, W, j, C]
  return x.reshape(batch, height * factor, width * factor, out)


def with_one_hot(x: jax.Array, labels: jax.Array | None, num_classes: int) -> jax.Array:
  """[x, one_hot(labels)] on the last axis (Mirza and Osindero 2014); x itself when unconditional."""
  if not num_classes or labels is None:
    return x
  return jnp.concatenate([x, jax.nn.one_hot(labels, num_classes, dtype=x.dtype)], axis=-1)


class Maxout(nn.Module):
  """Goodfellow et al. 2013: the maximum over `pieces` affine maps, the 2014 GAN's discriminator unit."""

  features: int
  pieces: int
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    y = nn.Dense(self.features * self.pieces, dtype=self.dtype)(x)
    return jnp.max(y.reshape(*y.shape[:-1], self.features, self.pieces), axis=-1)


def spectral(layer: nn.Module, enabled: bool) -> Callable[..., jax.Array]:
  """Wraps `layer` in spectral normalisation (Miyato et al. 2018) when enabled.

  The power-iteration vector u and the last sigma live in the mutable 'spectral' collection; they are
  updated only when the returned callable is given `train=True`.
  """
  if not enabled:
    return lambda x, train: layer(x)
  sn = nn.SpectralNorm(layer, collection_name='spectral')
  return lambda x, train: sn(x, update_stats=train)


class BatchNorm(nn.Module):
  """Batch normalisation (Ioffe and Szegedy 2015) with Flax's variables ('scale', 'bias'; 'batch_stats' mean and
  var) and arithmetic, y = (x - mean) * (scale / sqrt(var + eps)) + bias, statistics over every axis but the last.

  Unlike nn.BatchNorm it keeps the per-channel statistics as vectors rather than [1, 1, 1, C] arrays. XLA then
  simplifies the generator's forward pass identically in the D phase and under the G phase's gradient and
  computes it once per iteration (nn.BatchNorm's reshapes defeat that: the BCE DCGAN step at 32x32 computed
  every upsampling layer twice).
  """

  use_running_average: bool
  momentum: float = 0.9  # PyTorch's 0.1
  epsilon: float = 1e-5
  use_scale: bool = True
  use_bias: bool = True
  dtype: jnp.dtype | None = None
  scale_init: Callable[..., jax.Array] = nn.initializers.ones

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    features = x.shape[-1]
    running_mean = self.variable('batch_stats', 'mean', jnp.zeros, (features,), jnp.float32)
    running_var = self.variable('batch_stats', 'var', jnp.ones, (features,), jnp.float32)
    x32 = x.astype(jnp.float32)
    if self.use_running_average:
      mean, var = running_mean.value, running_var.value
    else:
      axes = tuple(range(x.ndim - 1))
      mean = jnp.mean(x32, axes)
      var = jnp.maximum(jnp.mean(jnp.square(x32), axes) - jnp.square(mean), 0.0)  # Flax's fast variance
      if not self.is_initializing():
        running_mean.value = self.momentum * running_mean.value + (1.0 - self.momentum) * mean
        running_var.value = self.momentum * running_var.value + (1.0 - self.momentum) * var
    multiplier = jax.lax.rsqrt(var + self.epsilon)
    if self.use_scale:
      multiplier = multiplier * self.param('scale', self.scale_init, (features,), jnp.float32)
    y = (x32 - mean) * multiplier
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (features,), jnp.float32)
    return y.astype(self.dtype or x.dtype)


def norm_layer(kind: str, train: bool, dtype: jnp.dtype | None = None) -> Callable[[jax.Array], jax.Array]:
  """'batch' (statistics over the global batch, PyTorch's momentum 0.1), 'instance', 'layer', or 'none'.

  'instance' is PyTorch's InstanceNorm2d as pix2pix and CycleGAN use it (Ulyanov et al. 2016): per example
  and channel, with no affine map and no running statistics, the same in training and evaluation. `dtype`
  is the output's; BatchNorm reduces the statistics in float32 and keeps the running ones in float32 whatever it is.
  """
  if kind == 'batch':
    return BatchNorm(use_running_average=not train, dtype=dtype,
                     scale_init=lambda k, s, d=jnp.float32: 1.0 + 0.02 * jax.random.normal(k, s, d))
  if kind == 'instance':
    return nn.InstanceNorm(epsilon=1e-5, use_bias=False, use_scale=False, dtype=dtype)
  if kind == 'layer':
    return nn.LayerNorm(dtype=dtype)
  if kind == 'none':
    return lambda x: x
  raise ValueError(f"unknown normalisation {kind!r}: use 'batch', 'instance', 'layer' or 'none'")


class ConditionalBatchNorm(nn.Module):
  """Class-conditional BatchNorm (de Vries et al. 2017; Miyato and Koyama 2018; Brock et al. 2019):
  normalise over the global batch without a learned affine map, then scale and shift per example.

  The gain and bias come from the condition: with `num_classes`, per-class tables (SNGAN with projection,
  gain initialised to 1); otherwise linear maps of a condition vector (BigGAN: the shared class
  embedding with this block's slice of z), gain = 1 + W_g c, bias = W_b c.
  """

  num_classes: int = 0
  spectral_norm: bool = False
  momentum: float = 0.9  # PyTorch's 0.1
  epsilon: float = 1e-5
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, x: jax.Array, condition: jax.Array, train: bool) -> jax.Array:
    features = x.shape[-1]
    x = BatchNorm(use_running_average=not train, momentum=self.momentum, epsilon=self.epsilon,
                  use_bias=False, use_scale=False, dtype=self.dtype)(x)
    if self.num_classes:
      gain = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.ones, name='gain')(condition)
      bias = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.zeros, name='bias')(condition)
    else:
      dense = lambda name: spectral(nn.Dense(features, use_bias=False, dtype=self.dtype, name=name),
                                    self.spectral_norm)
      gain = 1.0 + dense('gain')(condition, train)
      bias = dense('bias')(condition, train)
    return x * gain[:, None, None, :].astype(x.dtype) + bias[:, None, None, :].astype(x.dtype)


class SelfAttention(nn.Module):
  """SAGAN's self-attention block (Zhang et al. 2019, Sec. 3), in BigGAN's form: 1x1 query and key
  projections to C/8 channels and value to C/2, keys and values max-pooled 2x2, and the output added back
  through a gain gamma that starts at 0, so that the block begins as the identity."""

  spectral_norm: bool = True
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    batch, height, width, channels = x.shape

    def conv(features, name):
      return spectral(nn.Conv(features, (1, 1), use_bias=False, dtype=self.dtype, name=name), self.spectral_norm)

    pool = lambda h: nn.max_pool(h, (2, 2), strides=(2, 2))
    query = conv(channels // 8, 'query')(x, train).reshape(batch, height * width, -1)
    key = pool(conv(channels // 8, 'key')(x, train)).reshape(batch, height * width // 4, -1)
    value = pool(conv(channels // 2, 'value')(x, train)).reshape(batch, height * width // 4, -1)
    attention = jax.nn.softmax(jnp.einsum('bqc,bkc->bqk', query, key).astype(jnp.float32), axis=-1)
    attended = jnp.einsum('bqk,bkc->bqc', attention.astype(value.dtype), value)
    out = conv(channels, 'out')(attended.reshape(batch, height, width, channels // 2), train)
    gamma = self.param('gamma', nn.initializers.zeros, ())
    return x + gamma.astype(x.dtype) * out


class Projection(nn.Module):
  """The projection discriminator's head (Miyato and Koyama 2018, eq. 3): from pooled features phi(x),
  logit = psi(phi(x)) + <embed(y), phi(x)>, with psi linear; unconditional when labels is None."""

  num_classes: int
  spectral_norm: bool = True

  @nn.compact
  def __call__(self, features: jax.Array, labels: jax.Array | None, train: bool) -> jax.Array:
    features = features.astype(jnp.float32)
    logit = spectral(nn.Dense(1, name='linear'), self.spectral_norm)(features, train)[:, 0]
    if self.num_classes and labels is not None:
      embed = spectral(nn.Embed(self.num_classes, features.shape[-1], name='embed'), self.spectral_norm)
      logit = logit + jnp.sum(embed(labels, train) * features, axis=-1)
    return logit
