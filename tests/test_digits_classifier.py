"""Tests of the digits classifier that scores generated digits (jgan.metrics.digits_classifier)."""
from __future__ import annotations

import os
import shutil
import time

import chex
import numpy as np
import pytest

from jgan.data.digits import load_digits_arrays
from jgan.metrics import digits_classifier
from jgan.metrics.features import feature_metrics

_CACHE_NAME = 'digits_classifier_v1.npz'


def _real(split: str) -> np.ndarray:
  return load_digits_arrays(split)[0].astype(np.float32) / 127.5 - 1.0


def _assert_same_outputs(expected, actual, rtol: float, atol: float) -> None:
  images = _real('test')
  pairs = zip(expected.extractor().features_and_probs(images), actual.extractor().features_and_probs(images),
              strict=True)
  for expected_output, actual_output in pairs:
    np.testing.assert_allclose(actual_output, expected_output, rtol=rtol, atol=atol)


def _no_training(*args, **kwargs):
  raise AssertionError('load_or_train retrained although a valid cache file exists')


@pytest.fixture(scope='module')
def cache_dir(tmp_path_factory) -> str:
  return str(tmp_path_factory.mktemp('digits_cache'))


@pytest.fixture(scope='module')
def classifier(cache_dir) -> digits_classifier.DigitsClassifier:
  start = time.perf_counter()
  result = digits_classifier.load_or_train(cache_dir=cache_dir)
  print(f'digits classifier trained in {time.perf_counter() - start:.1f} s')
  return result


def test_held_out_accuracy(classifier):
  accuracy = classifier.test_accuracy()
  print(f'digits classifier held-out accuracy: {accuracy:.4f}')
  assert accuracy >= 0.95


@pytest.mark.parametrize('size,channels', [(32, 1), (64, 3)])
def test_features_and_probs_shapes(classifier, size, channels):
  images = np.random.default_rng(0).uniform(-1, 1, (7, size, size, channels)).astype(np.float32)
  # batch_size 4 pads the second batch; the result must not depend on the batching.
  features, probs = classifier.extractor(batch_size=4).features_and_probs(images)
  chex.assert_shape(features, (7, 128))
  chex.assert_shape(probs, (7, 10))
  chex.assert_type([features, probs], np.float64)
  np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-5)
  unbatched_features, unbatched_probs = classifier.extractor().features_and_probs(images)
  np.testing.assert_allclose(features, unbatched_features, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(probs, unbatched_probs, rtol=1e-5, atol=1e-5)


def _scores(classifier, real, fake):
  real_feats, _ = classifier.extractor().features_and_probs(real)
  return feature_metrics(real_feats, *classifier.extractor().features_and_probs(fake))


def test_scores_separate_real_digits_from_noise(classifier):
  train, test = _real('train'), _real('test')
  noise = np.random.default_rng(0).uniform(-1, 1, (300, 32, 32, 1)).astype(np.float32)
  real_scores = _scores(classifier, train, test)
  noise_scores = _scores(classifier, train, noise)
  print(f'digits FD real train vs real test: {real_scores["fd"]:.3f}, '
        f'vs uniform noise: {noise_scores["fd"]:.3f}')
  print(f'real test digits: confidence {real_scores["confidence"]:.3f}, '
        f'class entropy {real_scores["class_entropy"]:.3f}')
  assert noise_scores['fd'] > 20 * real_scores['fd']
  assert real_scores['class_entropy'] > 2.2
  assert real_scores['confidence'] > 0.9


def test_constant_images_have_zero_class_entropy(classifier):
  grey = np.zeros((50, 32, 32, 1), np.float32)
  scores = _scores(classifier, _real('test'), grey)
  assert scores['class_entropy'] < 1e-3


def test_second_load_reads_the_cache(classifier, cache_dir, monkeypatch):
  monkeypatch.setattr(digits_classifier, '_train', _no_training)
  reloaded = digits_classifier.load_or_train(cache_dir=cache_dir)
  _assert_same_outputs(classifier, reloaded, rtol=0, atol=0)


def test_default_cache_dir_comes_from_the_environment(classifier, cache_dir, tmp_path, monkeypatch):
  shutil.copy(os.path.join(cache_dir, _CACHE_NAME), tmp_path / _CACHE_NAME)
  monkeypatch.setenv('JGAN_CACHE_DIR', str(tmp_path))
  monkeypatch.setattr(digits_classifier, '_train', _no_training)
  digits_classifier.load_or_train()


def test_corrupt_cache_is_retrained(classifier, tmp_path, monkeypatch):
  (tmp_path / _CACHE_NAME).write_bytes(b'not an npz file \x00\xff' * 10)
  retrained = digits_classifier.load_or_train(cache_dir=str(tmp_path))
  # Training is deterministic given the seed, so the retrained classifier matches the fixture's.
  _assert_same_outputs(classifier, retrained, rtol=1e-5, atol=1e-5)
  # The garbage was overwritten with a readable cache.
  monkeypatch.setattr(digits_classifier, '_train', _no_training)
  digits_classifier.load_or_train(cache_dir=str(tmp_path))
