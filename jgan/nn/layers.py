"""Layers shared by the model families: conditioning, normalisation, spectral norm, attention, projection.
(Resolution-changing convolutions are in jgan.nn.resample, Karras et al.'s layers in jgan.nn.equalized.)"""
from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp


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

  Unlike nn.BatchNorm it keeps the per-channel statistics as vectors rather than [1, 1, 1, C] arrays. This is
  half of a contract with jgan.engine.train_step: the D and G phases of an iteration draw the same latents, and
  XLA computes the generator's forward pass once for both only if the two phases' graphs of it simplify
  identically, which nn.BatchNorm's reshapes defeat (every upsampling layer computed twice).
  tests/test_engine.py::test_dcgan_step_computes_the_generator_forward_pass_once guards it by FLOP count.
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
