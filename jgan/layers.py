"""Layers shared by the model families."""
from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

# For a 4x4, stride-2, padding-1 transposed convolution, output row 2m + a receives input rows m - 1 + r
# (r = 0, 1 after padding the input by one) through kernel tap _TAPS[a][r]: from o = 2i - 1 + k.
_TAPS = ((3, 1), (2, 0))


class UpConv4x4(nn.Module):
  """PyTorch's ConvTranspose2d(kernel 4, stride 2, padding 1): doubles H and W (the DCGAN upsampler).

  Output pixel (2m + a, 2n + b) sees only a 2x2 window of the input through a 2x2 slice of the kernel,
  so each of the four output phases is one matrix product of 2x2 input patches with that slice, and the
  phases are interleaved (sub-pixel form). The result equals the transposed convolution exactly; on XLA's
  CPU backend it is much faster: the weight gradient of a strided `lax.conv_transpose` costs about 45x
  its forward pass there, and XLA's CPU convolutions are slow for few output channels (the RGB layer).
  See benchmarks/README.md. The kernel is stored as [4, 4, in, out] in the transposed convolution's order.
  """

  features: int
  use_bias: bool = False
  kernel_init: Callable = nn.initializers.normal(0.02)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', self.kernel_init, (4, 4, x.shape[-1], self.features)).astype(x.dtype)
    batch, height, width, channels = x.shape
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    rows = []
    for a in (0, 1):
      cols = []
      for b in (0, 1):
        offsets = [(r, c) for r in (0, 1) for c in (0, 1)]
        patches = jnp.concatenate([padded[:, a + r:a + r + height, b + c:b + c + width] for r, c in offsets], -1)
        phase_kernel = jnp.concatenate([kernel[_TAPS[a][r], _TAPS[b][c]] for r, c in offsets], 0)
        cols.append(jnp.dot(patches.reshape(-1, 4 * channels), phase_kernel).reshape(batch, height, width, -1))
      rows.append(jnp.stack(cols, axis=3))  # [B, H, W, 2 (b), C]
    y = jnp.stack(rows, axis=2).reshape(batch, 2 * height, 2 * width, self.features)  # [B, H, 2 (a), W, 2, C]
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,)).astype(y.dtype)
    return y


class Maxout(nn.Module):
  """Goodfellow et al. 2013: the maximum over `pieces` affine maps, the 2014 GAN's discriminator unit."""

  features: int
  pieces: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    y = nn.Dense(self.features * self.pieces)(x)
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


def norm_layer(kind: str, train: bool) -> Callable[[jax.Array], jax.Array]:
  """'batch' (statistics over the global batch, PyTorch's momentum 0.1), 'layer', or 'none'."""
  if kind == 'batch':
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                        scale_init=lambda k, s, d=jnp.float32: 1.0 + 0.02 * jax.random.normal(k, s, d))
  if kind == 'layer':
    return nn.LayerNorm()
  if kind == 'none':
    return lambda x: x
  raise ValueError(f"unknown normalisation {kind!r}: use 'batch', 'layer' or 'none'")
