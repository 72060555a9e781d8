"""A small CNN trained on the bundled digits that scores generated digits without any download.

Its 128-d penultimate features give a Frechet distance between real and generated images (an offline
stand-in for FID) and its softmax gives per-sample confidence and the class balance of the samples.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import os
import tempfile
import zipfile

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import traverse_util

from jgan.data.digits import NUM_CLASSES, load_digits_arrays
from jgan.metrics.extractor import FeatureExtractor
from jgan.metrics.extractor import cache_dir as default_cache_dir

_FEATURES = 128
_SIZE = 32  # Every input is resized to 32x32 grey, so 32- and 64-pixel generators are scored alike.
_CACHE_NAME = 'digits_classifier_v1.npz'
_SEED = 0
_STEPS = 200
_BATCH = 128
_LEARNING_RATE = 1e-3
_MAX_SHIFT = 2  # Pixels at 32x32: generated digits are rarely centred exactly like the real ones.
_NOISE_STD = 0.1  # Generator outputs carry pixel noise that the real digits lack.


class _CNN(nn.Module):
  """conv 32 /2 -> conv 64 /2 -> dense 128 (the features) -> dense 10; no BatchNorm, so a pure function."""

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    x = nn.relu(nn.Conv(32, (3, 3), strides=2, name='conv1')(x))
    x = nn.relu(nn.Conv(64, (3, 3), strides=2, name='conv2')(x))
    features = nn.relu(nn.Dense(_FEATURES, name='features')(x.reshape(x.shape[0], -1)))
    return features, nn.Dense(NUM_CLASSES, name='logits')(features)


def _preprocess(images: jax.Array) -> jax.Array:
  """[N, H, W, 1 or 3] in [-1, 1] -> grey [N, 32, 32, 1]; antialiasing keeps downscaled 64s smooth."""
  grey = jnp.mean(images.astype(jnp.float32), axis=-1, keepdims=True)
  return jax.image.resize(grey, (grey.shape[0], _SIZE, _SIZE, 1), method='linear', antialias=True)


@jax.jit
def _features_and_probs(params, images: jax.Array) -> tuple[jax.Array, jax.Array]:
  features, logits = _CNN().apply({'params': params}, _preprocess(images))
  return features, jax.nn.softmax(logits)


def _real_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
  images, labels = load_digits_arrays(split)
  return images.astype(np.float32) / 127.5 - 1.0, labels


@dataclasses.dataclass(frozen=True, eq=False)
class DigitsClassifier:
  """Trained parameters of the digits CNN; the methods are pure functions of them."""

  params: dict

  def extractor(self, batch_size: int = 500) -> FeatureExtractor:
    """Penultimate features float64 [N, 128] and softmax probabilities [N, 10] of images in [-1, 1] (any H and
    W, 1 or 3 channels), `batch_size` images per jitted call."""
    return FeatureExtractor('the digits classifier', functools.partial(_features_and_probs, self.params),
                            _FEATURES, NUM_CLASSES, batch_size)

  def features(self, images: jax.Array) -> jax.Array:
    """Penultimate features [N, 128] of images in [-1, 1], as a differentiable, jittable function (a feature
    loss: jgan.w_space's projection)."""
    return _CNN().apply({'params': self.params}, _preprocess(images))[0]

  def test_accuracy(self) -> float:
    """Returns the accuracy on the held-out 'test' split of the digits."""
    images, labels = _real_digits('test')
    _, probs = self.extractor().features_and_probs(images)
    return float(np.mean(np.argmax(probs, axis=-1) == labels))


def _augment(key: jax.Array, images: jax.Array) -> jax.Array:
  """Random shifts of up to _MAX_SHIFT pixels (background -1 fills in) plus Gaussian pixel noise."""
  shift_key, noise_key = jax.random.split(key)
  n = images.shape[0]
  padded = jnp.pad(images, ((0, 0), (_MAX_SHIFT,) * 2, (_MAX_SHIFT,) * 2, (0, 0)), constant_values=-1.0)
  offsets = jax.random.randint(shift_key, (n, 2), 0, 2 * _MAX_SHIFT + 1)
  crop = lambda image, offset: jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (_SIZE, _SIZE, 1))
  shifted = jax.vmap(crop)(padded, offsets)
  return shifted + _NOISE_STD * jax.random.normal(noise_key, shifted.shape)


_OPTIMIZER = optax.adam(_LEARNING_RATE)


@jax.jit
def _train_step(params, opt_state, key: jax.Array, images: jax.Array, labels: jax.Array):
  """One Adam step on a random augmented batch of the preprocessed training digits."""
  index_key, augment_key = jax.random.split(key)
  index = jax.random.randint(index_key, (_BATCH,), 0, images.shape[0])

  def loss_fn(params):
    _, logits = _CNN().apply({'params': params}, _augment(augment_key, images[index]))
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels[index]).mean()

  updates, opt_state = _OPTIMIZER.update(jax.grad(loss_fn)(params), opt_state, params)
  return optax.apply_updates(params, updates), opt_state


def _train(seed: int = _SEED) -> dict:
  """Trains the CNN on the 'train' digits with Adam; deterministic given the seed. Returns its params."""
  images, labels = _real_digits('train')
  images, labels = _preprocess(jnp.asarray(images)), jnp.asarray(labels)
  init_key, data_key = jax.random.split(jax.random.PRNGKey(seed))
  # Jitted: Flax's eager init dispatches (and compiles) op by op, which takes seconds on CPU.
  params = jax.jit(_CNN().init)(init_key, images[:1])['params']
  opt_state = _OPTIMIZER.init(params)
  for step in range(_STEPS):
    params, opt_state = _train_step(params, opt_state, jax.random.fold_in(data_key, step), images, labels)
  return jax.device_get(params)


def _load(path: str) -> dict:
  """Reads cached params, checking every name and shape against the model so stale files are rejected."""
  expected = traverse_util.flatten_dict(
      jax.eval_shape(_CNN().init, jax.random.PRNGKey(0), jnp.zeros((1, _SIZE, _SIZE, 1)))['params'], sep='/')
  with np.load(path) as data:
    flat = {name: data[name] for name in data.files}
  if {k: v.shape for k, v in flat.items()} != {k: v.shape for k, v in expected.items()}:
    raise ValueError(f'{path} does not hold the digits classifier parameters')
  return traverse_util.unflatten_dict(flat, sep='/')


def _save(path: str, params: dict) -> None:
  """Writes params to a temporary file and renames it, so readers never see a half-written cache."""
  fd, tmp_path = tempfile.mkstemp(dir=os.path.dirname(path), suffix='.tmp')
  try:
    with os.fdopen(fd, 'wb') as f:
      np.savez(f, **traverse_util.flatten_dict(params, sep='/'))
    os.replace(tmp_path, path)
  except BaseException:
    os.unlink(tmp_path)
    raise


def load_or_train(cache_dir: str | None = None) -> DigitsClassifier:
  """Loads the cached digits classifier, or trains it (a few seconds on CPU) and caches it.

  Args:
    cache_dir: folder of the cache file; defaults to $JGAN_CACHE_DIR, else ~/.cache/jgan.

  Returns:
    The trained DigitsClassifier.
  """
  cache_dir = cache_dir or default_cache_dir()
  path = os.path.join(cache_dir, _CACHE_NAME)
  if os.path.exists(path):
    try:
      return DigitsClassifier(_load(path))
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
      logging.warning('Retraining the digits classifier: cannot read %s (%s)', path, e)
  params = _train()
  os.makedirs(cache_dir, exist_ok=True)
  _save(path, params)
  return DigitsClassifier(params)
