"""Convolutions that change resolution, each equal to its plain form and written for XLA's CPU backend.

DCGAN's and pix2pix's 4x4 stride-2 layers (PyTorch's Conv2d and ConvTranspose2d(4, 2, 1)), CycleGAN's 3x3
transposed convolution and SRGAN's pixel shuffle; StyleGAN2's [1, 3, 3, 1] FIR resampling (the reference's
upfirdn2d) and its up- and down-sampling 3x3 convolutions. Each is a normal function or Flax module whose
result equals the textbook operator (tests/test_resample.py checks each against it); the forms avoid what
XLA's CPU backend computes slowly: the weight gradient of a strided transposed convolution, and the input
gradient of a strided convolution under a second differentiation (WGAN-GP, R1). Their timings are in
benchmarks/README.md.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jgan.nn.convolution import conv2d_same


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
  (rather than padding the input, or them) keeps the large [B, H, W, k, k, out] tensor from being copied.
  """
  batch, height, width, channels = x.shape
  size, features = kernel.shape[0], kernel.shape[-1]
  taps = x.reshape(-1, channels) @ kernel.transpose(2, 0, 1, 3).reshape(channels, size * size * features)
  return _phase_sums(taps.reshape(batch, height, width, size, size, features), phase_taps, pad)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def _phase_sums(taps: jax.Array, phase_taps, pad: int) -> jax.Array:
  """[B, H, W, k, k, C] contributions -> the [B, 2H, 2W, C] output of `_sub_pixel_up`.

  A linear map with a hand-written adjoint: JAX would transpose each tap's slice into a zero-padded copy of the
  whole [B, H, W, k, k, C] tensor and add the k * k copies; each tap's gradient is one shifted slice of one
  output phase, so the adjoint stacks them.
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
  transposed convolution; XLA's CPU backend computes the weight gradient of a strided `lax.conv_transpose`
  many times slower than its forward pass, and its convolutions are slow for few output channels (the RGB
  layer). The kernel is stored as [4, 4, in, out] in the transposed convolution's order.
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
  shifted slices, stacked into [B, H/2, W/2, 16 in] patches. Equal to the convolution; it avoids the strided
  convolution's input gradient, a transposed convolution whose weight gradient XLA's CPU backend computes
  slowly, which WGAN-GP's penalty differentiates a second time.
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
  there.
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


def _shift(x: jax.Array, axis: int, offset: int) -> jax.Array:
  """x[m + offset] along `axis`, zero outside the array (offset -1 or 1). The same values as `_shifted`, whose
  slice-then-pad form XLA fuses with the FIR arithmetic into a differently rounded StyleGAN2 step."""
  padded = jnp.pad(x, [(1, 1) if a == axis else (0, 0) for a in range(x.ndim)])
  return lax.slice_in_dim(padded, 1 + offset, 1 + offset + x.shape[axis], axis=axis)


def fir_upsample_2x(x: jax.Array) -> jax.Array:
  """The reference's upfirdn2d.upsample2d with the [1, 3, 3, 1] filter: zero insertion, then the separable
  filter with gain 4, i.e. per axis out[2m] = (x[m-1] + 3 x[m]) / 4 and out[2m+1] = (3 x[m] + x[m+1]) / 4."""
  for axis in (1, 2):
    even = (_shift(x, axis, -1) + 3 * x) / 4
    odd = (3 * x + _shift(x, axis, 1)) / 4
    shape = list(x.shape)
    shape[axis] *= 2
    x = jnp.stack([even, odd], axis=axis + 1).reshape(shape)
  return x


def fir_blur(x: jax.Array, pad: int) -> jax.Array:
  """The [1, 3, 3, 1] / 8 filter along H and W, gain 1, on x zero-padded by `pad`: [B, H + 2 pad - 3, ...]."""
  x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  for axis in (1, 2):
    taps = [lax.slice_in_dim(x, t, t + x.shape[axis] - 3, axis=axis) for t in range(4)]
    x = (taps[0] + 3 * taps[1] + 3 * taps[2] + taps[3]) / 8
  return x


def fir_downsample_2x(x: jax.Array) -> jax.Array:
  """The reference's upfirdn2d.downsample2d with the [1, 3, 3, 1] filter: per axis
  out[m] = (x[2m-1] + 3 x[2m] + 3 x[2m+1] + x[2m+2]) / 8, the average centred on each 2x2 block."""
  return fir_blur(x, 1)[:, ::2, ::2]


# fir_upsample_2x then a 3x3 convolution, per axis: u[2m] = (x[m-1] + 3 x[m]) / 4 and u[2m+1] = (3 x[m] +
# x[m+1]) / 4, so output 2m + p = sum_t w[t] u[2m + p + t - 1] reads x[m-1], x[m], x[m+1] with the weights
# _UP_PHASES[p] @ w (rows: x's offsets -1, 0, 1; columns: the kernel's taps).
_UP_PHASES = np.array([[[3, 1, 0], [1, 3, 3], [0, 0, 1]],
                       [[1, 0, 0], [3, 3, 1], [0, 1, 3]]], np.float32) / 4


def upsample_conv_3x3(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """The FIR upsampling (fir_upsample_2x) followed by a 3x3 convolution of the upsampled image, as the
  reference's transposed convolution and blur compute it (the border outputs read the upsampling of x's zero
  padding): [B, H, W, I] x [3, 3, I, O] -> [B, 2H, 2W, O].

  Computed as one stride-1 3x3 convolution of x with the four output phases' kernels (_UP_PHASES applied to
  the kernel along both axes, in the kernel's precision: [3, 3, I, 4 O]), then interleaved: the multiply-adds
  of convolving the upsampled image, without building it or a strided transposed convolution.
  """
  b, h, w, _ = x.shape
  out = kernel.shape[-1]

  def weighted(weights, taps):  # sum_t weights[t] taps[t] with the weights known here: elementwise, fused
    return sum(float(c) * taps[t] for t, c in enumerate(weights) if c)

  rows = [[weighted(_UP_PHASES[p, r], kernel) for p in range(2)] for r in range(3)]  # along H: [3 (column), I, O]
  phase_kernels = jnp.array([[[[weighted(_UP_PHASES[q, c], rows[r][p]) for q in range(2)] for p in range(2)]
                              for c in range(3)] for r in range(3)])  # [3 (r), 3 (c), 2 (p), 2 (q), I, O]
  phase_kernels = phase_kernels.transpose(0, 1, 4, 2, 3, 5).reshape(3, 3, kernel.shape[2], 4 * out).astype(x.dtype)
  y = conv2d_same(x, phase_kernels)
  return y.reshape(b, h, w, 2, 2, out).transpose(0, 1, 3, 2, 4, 5).reshape(b, 2 * h, 2 * w, out)


def blur_down_conv_3x3(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """The reference's 3x3 convolution with down=2: the [1, 3, 3, 1] blur on x zero-padded by 2, then a stride-2
  'VALID' 3x3 convolution, so each output is centred on a 2x2 block of x: [B, H, W, I] x [3, 3, I, O] ->
  [B, H/2, W/2, O] (even H, W).

  Computed as one matrix product of the blurred image's 3x3 patches (nine strided slices): the strided
  convolution's input gradient is a transposed convolution, whose weight gradient, which R1's double backward
  takes, XLA's CPU backend computes slowly.
  """
  b, h, w, c = x.shape
  blurred = fir_blur(x, 2)  # [B, H + 1, W + 1, I]
  taps = [blurred[:, r:r + h - 1:2, s:s + w - 1:2] for r in range(3) for s in range(3)]
  return jnp.stack(taps, axis=3).reshape(b, h // 2, w // 2, 9 * c) @ kernel.reshape(9 * c, kernel.shape[-1])

