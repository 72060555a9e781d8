"""Full-reference image quality: L1, PSNR and SSIM of outputs against their targets (Pix2Pix, SRGAN).

Images are jgan's floats in [-1, 1], compared on the [0, 1] scale over all channels (SRGAN reports PSNR on
the luminance channel with a border cropped; these are the plain RGB figures, stated as such).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# Wang et al. 2004, Sec. III.C: an 11x11 Gaussian window of standard deviation 1.5, K1 = 0.01, K2 = 0.03.
_WINDOW, _SIGMA, _K1, _K2 = 11, 1.5, 0.01, 0.03


def _unit(images: jax.Array) -> jax.Array:
  return (jnp.asarray(images, jnp.float32) + 1.0) / 2.0


def psnr(outputs: jax.Array, targets: jax.Array) -> jax.Array:
  """Peak signal-to-noise ratio in dB per image, 10 log10(1 / MSE) on the [0, 1] scale: [N]."""
  mse = jnp.mean((_unit(outputs) - _unit(targets)) ** 2, axis=(1, 2, 3))
  return 10.0 * jnp.log10(1.0 / jnp.maximum(mse, 1e-12))


def _gaussian_filter(x: jax.Array) -> jax.Array:
  """Valid 2-D Gaussian filtering of [N, H, W, C], each channel alone (separable)."""
  offsets = jnp.arange(_WINDOW, dtype=jnp.float32) - (_WINDOW - 1) / 2
  kernel = jnp.exp(-offsets**2 / (2 * _SIGMA**2))
  kernel = kernel / jnp.sum(kernel)
  channels = x.shape[-1]
  rows = jnp.tile(kernel.reshape(_WINDOW, 1, 1, 1), (1, 1, 1, channels))
  cols = jnp.tile(kernel.reshape(1, _WINDOW, 1, 1), (1, 1, 1, channels))
  conv = lambda u, k: jax.lax.conv_general_dilated(u, k, (1, 1), 'VALID', dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
                                                   feature_group_count=channels)
  return conv(conv(x, rows), cols)


def ssim(outputs: jax.Array, targets: jax.Array) -> jax.Array:
  """Structural similarity per image (Wang et al. 2004, eq. 13), the mean over windows and channels: [N].

  Images must be at least 11x11, the window's size.
  """
  x, y = _unit(outputs), _unit(targets)
  c1, c2 = _K1**2, _K2**2
  mu_x, mu_y = _gaussian_filter(x), _gaussian_filter(y)
  var_x = _gaussian_filter(x * x) - mu_x**2
  var_y = _gaussian_filter(y * y) - mu_y**2
  cov = _gaussian_filter(x * y) - mu_x * mu_y
  index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
  return jnp.mean(index, axis=(1, 2, 3))


@jax.jit
def _scores(outputs: jax.Array, targets: jax.Array) -> dict[str, jax.Array]:
  return {
      'l1': jnp.mean(jnp.abs(outputs - targets), axis=(1, 2, 3)),
      'mse': jnp.mean((_unit(outputs) - _unit(targets)) ** 2, axis=(1, 2, 3)),
      'psnr': psnr(outputs, targets),
      'ssim': ssim(outputs, targets),
  }


def compare(outputs: np.ndarray, targets: np.ndarray) -> dict[str, float]:
  """Means over the images of L1 (on the [-1, 1] scale, as Pix2Pix's loss), MSE (on [0, 1]), PSNR and SSIM;
  and 'psnr_set', the PSNR of the whole set from its mean squared error.

  The mean of per-image PSNRs (the super-resolution papers' convention on whole test images) is ruled by the
  flattest images: a patch of sky that bicubic upsampling reproduces to 50 dB counts as much as a textured one.
  'psnr_set' weighs every pixel alike.
  """
  scores = {k: float(np.mean(v)) for k, v in _scores(jnp.asarray(outputs), jnp.asarray(targets)).items()}
  scores['psnr_set'] = float(10.0 * np.log10(1.0 / max(scores['mse'], 1e-12)))
  return scores
