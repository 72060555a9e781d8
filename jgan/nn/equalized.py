"""Layers of Karras et al.'s family (ProGAN, StyleGAN, StyleGAN2): equalised learning rate, pixelwise feature
normalisation, the minibatch standard-deviation feature, and StyleGAN's style mixing and truncation in W.

Equalised learning rate (Karras et al. 2018, Sec. 4.1): weights are stored as N(0, 1) and scaled at run time
by the He constant c = gain / sqrt(fan_in), so that Adam, whose steps do not depend on a weight's scale,
moves every layer at the same relative speed. A learning-rate multiplier (StyleGAN's mapping network: 0.01)
stores the weight as N(0, 1 / m^2) and scales it by m at run time, which multiplies its effective step by m.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgan.nn.convolution import conv2d_same


def he_constant(fan_in: int, gain: float = 1.0, lr_multiplier: float = 1.0) -> float:
  """The run-time weight scale: gain / sqrt(fan_in), times the learning-rate multiplier."""
  return gain * lr_multiplier / math.sqrt(fan_in)


class EqualizedDense(nn.Module):
  """y = x (c W) + m b with W ~ N(0, 1 / m^2), c = he_constant(fan_in, gain, m)."""

  features: int
  gain: float = 1.0
  lr_multiplier: float = 1.0
  use_bias: bool = True
  bias_init: float = 0.0

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    fan_in = x.shape[-1]
    kernel = self.param('kernel', nn.initializers.normal(1.0 / self.lr_multiplier), (fan_in, self.features))
    y = x @ (kernel * he_constant(fan_in, self.gain, self.lr_multiplier)).astype(x.dtype)
    if self.use_bias:
      bias = self.param('bias', nn.initializers.constant(self.bias_init / self.lr_multiplier), (self.features,))
      y = y + (bias * self.lr_multiplier).astype(y.dtype)
    return y


class EqualizedConv(nn.Module):
  """A stride-1, 'SAME'-padded convolution with an equalised [k, k, in, out] kernel and an optional bias."""

  features: int
  kernel_size: int = 3
  gain: float = 1.0
  use_bias: bool = True

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k, fan_in = self.kernel_size, self.kernel_size * self.kernel_size * x.shape[-1]
    kernel = self.param('kernel', nn.initializers.normal(1.0), (k, k, x.shape[-1], self.features))
    y = conv2d_same(x, (kernel * he_constant(fan_in, self.gain)).astype(x.dtype))
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,)).astype(y.dtype)
    return y


def pixel_norm(x: jax.Array, epsilon: float = 1e-8) -> jax.Array:
  """Pixelwise feature vector normalisation (Karras et al. 2018, eq. in Sec. 4.2): each pixel's feature
  vector divided by its root mean square over the channels (reduced in float32 whatever x's dtype)."""
  mean_square = jnp.mean(jnp.square(x.astype(jnp.float32)), axis=-1, keepdims=True)
  return x * jax.lax.rsqrt(mean_square + epsilon).astype(x.dtype)


def minibatch_stddev(x: jax.Array, group_size: int = 4, num_features: int = 1) -> jax.Array:
  """Appends the minibatch standard-deviation feature(s) (Karras et al. 2018, Sec. 3; StyleGAN2's grouped
  form): within groups of `group_size` examples (examples i, i + N/G, ... form a group, as the reference's
  reshape does), the standard deviation of each feature over the group, averaged over the channels (split
  into `num_features` parts) and pixels, broadcast as `num_features` constant feature maps.

  Args:
    x: [N, H, W, C] with N divisible by min(group_size, N) and C by num_features.
  Returns:
    [N, H, W, C + num_features].
  """
  n, h, w, c = x.shape
  g = min(group_size, n)
  y = x.reshape(g, n // g, h, w, num_features, c // num_features).astype(jnp.float32)
  y = jnp.sqrt(jnp.var(y, axis=0) + 1e-8)  # [N/G, H, W, F, C/F]
  y = jnp.mean(y, axis=(1, 2, 4))  # [N/G, F]
  y = jnp.tile(y, (g, 1)).astype(x.dtype)  # example i takes its group's (i mod N/G) values
  return jnp.concatenate([x, jnp.broadcast_to(y[:, None, None, :], (n, h, w, num_features))], axis=-1)


def leaky_relu_gain(x: jax.Array) -> jax.Array:
  """LeakyReLU(0.2) times sqrt(2), the He gain that keeps the activations' scale through equalised layers
  (StyleGAN2's bias_act 'lrelu' with its default gain)."""
  return nn.leaky_relu(x, 0.2) * math.sqrt(2.0)


class MappingNetwork(nn.Module):
  """StyleGAN's mapping network f: Z -> W (Karras et al. 2019, Sec. 2): the normalised latent (pixel_norm)
  through `layers` equalised dense layers of width w_dim with LeakyReLU, at a learning rate 100 times lower
  (lr_multiplier 0.01, their Appendix C). Returns w [B, w_dim]; the synthesis network broadcasts it to its
  layers (and style mixing replaces it from a crossover layer on)."""

  w_dim: int = 512
  layers: int = 8
  lr_multiplier: float = 0.01

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    x = pixel_norm(z)
    for i in range(self.layers):
      x = leaky_relu_gain(EqualizedDense(self.w_dim, lr_multiplier=self.lr_multiplier, name=f'dense_{i}')(x))
    return x


def mix_styles(w1: jax.Array, w2: jax.Array, crossover: int | jax.Array, num_ws: int | None = None) -> jax.Array:
  """Style mixing (Karras et al. 2019, Sec. 3.1): the synthesis layers before the crossover take their styles
  from w1, the others from w2.

  Args:
    w1, w2: per-layer styles [B, num_ws, w_dim], or one w per example [B, w_dim] for every layer (then give
      `num_ws`).
    crossover: the first layer that takes w2, an int or an int array of shape [] or [B] (per example; traced
      values are fine). 0 gives w2 throughout and num_ws or more gives w1.
  Returns:
    ws [B, num_ws, w_dim].
  """
  if w1.ndim == 2:
    if num_ws is None:
      raise ValueError('mix_styles of one w per example [B, w_dim] needs num_ws, the number of layers')
    w1, w2 = (jnp.broadcast_to(w[:, None, :], (w.shape[0], num_ws, w.shape[-1])) for w in (w1, w2))
  layer = jnp.arange(w1.shape[1])[None, :, None]
  return jnp.where(layer < jnp.reshape(jnp.asarray(crossover), (-1, 1, 1)), w1, w2)


def truncate(w: jax.Array, w_avg: jax.Array, psi: float | jax.Array, cutoff: int | None = None) -> jax.Array:
  """The truncation trick in W (Karras et al. 2019, Appendix B): w' = w_avg + psi (w - w_avg), which pulls the
  styles towards their mean for fidelity at the cost of variety. psi = 1 leaves w as it is, psi = 0 gives
  w_avg (the same image for every z).

  Args:
    w: styles [..., w_dim], or [B, num_ws, w_dim] where `cutoff` is given.
    w_avg: [w_dim], the running mean of the mapping network's output.
    cutoff: truncate only the layers before it (the reference's truncation_cutoff: 8, the coarse styles of
      resolutions 4 to 32); None truncates every layer.
  """
  truncated = w_avg + psi * (w - w_avg)
  if cutoff is None:
    return truncated
  return jnp.where(jnp.arange(w.shape[-2])[:, None] < cutoff, truncated, w)
