"""A stride-1 'SAME' convolution whose weight gradient XLA's CPU backend computes at matrix-product speed.

XLA takes the weight gradient of a convolution as another convolution in which the batch is the contracted
feature dimension and the whole image is the window ([I, H + 2p, W + 2p, B] against [H, W, B, O]), which its
CPU backend runs far below its matrix-product speed for StyleGAN2's high-resolution layers. `conv2d_same` keeps
XLA's forward convolution and input gradient and, on the CPU, computes the weight gradient as one matrix
product (`_weight_gradient_by_shifts`). Timings: benchmarks/README.md (StyleGAN2, change 12).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

_NHWC = ('NHWC', 'HWIO', 'NHWC')


def _conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  return lax.conv_general_dilated(x, kernel, (1, 1), 'SAME', dimension_numbers=_NHWC)


def _weight_gradient_by_shifts(x: jax.Array, cotangent: jax.Array, size: int) -> jax.Array:
  """dK[r, s] = sum over (b, h, w) of x_pad[b, h + r, w + s] dy[b, h, w] (x_pad: x zero-padded by p = k // 2)
  for all k x k taps in one matrix product: x_pad's k column shifts side by side, [B (H + 2p) W, k I], against
  dy's k row shifts side by side (row i of shift r holds dy's row i - r, zero outside), [B (H + 2p) W, k O];
  block (s, r) of the [k I, k O] product is tap (r, s). k copies of x and of dy, rather than k^2 of either.
  """
  _, height, width, channels = x.shape
  features, pad = cotangent.shape[-1], size // 2
  rows = height + 2 * pad
  x_pad = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  x_shifts = jnp.stack([x_pad[:, :, s:s + width] for s in range(size)], axis=3)
  dy_pad = jnp.pad(cotangent, ((0, 0), (2 * pad, 2 * pad), (0, 0), (0, 0)))
  dy_shifts = jnp.stack([dy_pad[:, 2 * pad - r:2 * pad - r + rows] for r in range(size)], axis=3)
  product = lax.dot_general(x_shifts.reshape(-1, size * channels), dy_shifts.reshape(-1, size * features),
                            (((0,), (0,)), ((), ())), preferred_element_type=jnp.float32)
  return product.reshape(size, channels, size, features).transpose(2, 0, 1, 3)


def _weight_gradient_by_xla(x: jax.Array, cotangent: jax.Array, kernel: jax.Array) -> jax.Array:
  return jax.vjp(lambda k: _conv(x, k), kernel)[1](cotangent)[0]


def conv2d_same(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """lax.conv_general_dilated(x, kernel, (1, 1), 'SAME') for x [B, H, W, I] and an odd square kernel [k, k, I, O].

  A 1x1 kernel from or to at most 4 channels (RGB) is a matrix product: XLA's CPU convolutions are slow with
  so few channels; other 1x1 kernels are XLA's convolution, whose gradient in StyleGAN2's step measured faster
  than the product's, which XLA computes through a transposed copy of the cotangent. Larger kernels are XLA's
  convolution with the gradient written out: the input gradient is this function of the cotangent and the
  flipped, transposed kernel (so a second differentiation, as R1 and path-length regularisation take, meets
  this rule again), the weight gradient `_weight_gradient_by_shifts` on the CPU and XLA's elsewhere (cuDNN
  and the TPU compute it natively). Reverse mode only, as jax.custom_vjp.
  """
  if kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
    raise ValueError(f'conv2d_same takes an odd square kernel, not {kernel.shape[0]}x{kernel.shape[1]}')
  if kernel.shape[0] == 1:
    return x @ kernel[0, 0] if min(kernel.shape[2:]) <= 4 else _conv(x, kernel)
  return _conv_with_written_gradient(x, kernel)


@jax.custom_vjp
def _conv_with_written_gradient(x: jax.Array, kernel: jax.Array) -> jax.Array:
  return _conv(x, kernel)


def _forward(x: jax.Array, kernel: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
  return _conv(x, kernel), (x, kernel)


def _backward(residuals: tuple[jax.Array, jax.Array], cotangent: jax.Array) -> tuple[jax.Array, jax.Array]:
  x, kernel = residuals
  # y[h] = sum_r x[h + r - p] K[r], so dx[j] = sum_r dy[j - r + p] K[r]: the 'SAME' convolution of dy with the
  # kernel flipped in space and its input and output channels swapped.
  dx = _conv_with_written_gradient(cotangent, jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2))
  dkernel = lax.platform_dependent(  # both branches in the kernel's dtype, as lax.switch requires
      x, cotangent, kernel,
      cpu=lambda x, dy, kernel: _weight_gradient_by_shifts(x, dy, kernel.shape[0]).astype(kernel.dtype),
      default=_weight_gradient_by_xla)
  return dx, dkernel


_conv_with_written_gradient.defvjp(_forward, _backward)

