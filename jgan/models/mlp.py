"""The 2014 GAN (Goodfellow et al. 2014, Sec. 5): fully connected G with ReLU, maxout D with dropout.

With num_classes > 0 it is the conditional GAN of Mirza and Osindero 2014: the one-hot label is
concatenated to z in G and to the flattened image in D.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgan.nn.layers import Maxout, with_one_hot

DEFAULTS = {
    'z_dim': 100,
    'num_classes': 0,  # > 0: conditional GAN (Mirza and Osindero 2014), the one-hot label joins z and x
    'g_hidden': (1200, 1200),  # the paper's MNIST generator (pylearn2 config), ReLU units
    'd_hidden': (240, 240),  # maxout units, 5 pieces each
    'd_pieces': 5,
    'd_input_dropout': 0.2,  # dropout rates: keep 0.8 of the inputs and 0.5 of the hidden units
    'd_dropout': 0.5,
}


def check(model_cfg, image_shape: tuple[int, int, int]) -> None:
  del model_cfg, image_shape  # Fully connected: any image shape works.


class Generator(nn.Module):
  image_shape: tuple[int, int, int]
  num_classes: int = 0
  g_hidden: tuple[int, ...] = (1200, 1200)
  compute_dtype: str = 'float32'

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None, train: bool = True) -> jax.Array:
    del train
    x = with_one_hot(z, labels, self.num_classes)
    for width in self.g_hidden:
      x = nn.relu(nn.Dense(width, dtype=self.compute_dtype)(x))
    # tanh rather than the paper's sigmoid: jgan scales every dataset to [-1, 1].
    x = jnp.tanh(nn.Dense(math.prod(self.image_shape), dtype=self.compute_dtype)(x).astype(jnp.float32))
    return x.reshape(z.shape[0], *self.image_shape)


class Discriminator(nn.Module):
  image_shape: tuple[int, int, int]
  num_classes: int = 0
  d_hidden: tuple[int, ...] = (240, 240)
  d_pieces: int = 5
  d_input_dropout: float = 0.2
  d_dropout: float = 0.5
  compute_dtype: str = 'float32'

  @nn.compact
  def __call__(self, images: jax.Array, labels: jax.Array | None = None, train: bool = True) -> jax.Array:
    x = with_one_hot(images.reshape(images.shape[0], -1), labels, self.num_classes)
    x = nn.Dropout(self.d_input_dropout, deterministic=not train)(x)
    for width in self.d_hidden:
      x = nn.Dropout(self.d_dropout, deterministic=not train)(Maxout(width, self.d_pieces, self.compute_dtype)(x))
    return nn.Dense(1, dtype=self.compute_dtype)(x)[:, 0].astype(jnp.float32)

