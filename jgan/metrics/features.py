"""Generated images measured against real ones, as the training loop and the tools measure them: the feature
space (the digits classifier, offline; or FID's Inception network, given its weights), the real images'
features (cached per extractor, dataset, split and resolution), every feature-space metric, and the Parzen
window of the 2014 paper in pixel space."""
from __future__ import annotations

import hashlib
import json
import os

import ml_collections
import numpy as np
from absl import logging

from jgan.data import pipeline
from jgan.errors import JganError
from jgan.metrics import digits_classifier, frechet, inception
from jgan.metrics.extractor import FeatureExtractor, cache_dir
from jgan.metrics.inception_score import inception_score
from jgan.metrics.kid import kernel_inception_distance
from jgan.metrics.parzen import parzen_log_likelihood, select_sigma
from jgan.metrics.precision_recall import precision_recall

FEATURES = ('digits', 'inception')


def feature_space(config: ml_collections.ConfigDict) -> str:
  """The feature space of a run's evaluation: eval.features, else 'inception' given its weights, else 'digits'
  for the digits, else '' (none)."""
  if config.eval.features:
    return config.eval.features
  if config.eval.inception_weights:
    return 'inception'
  return 'digits' if config.data.name == 'digits' else ''


def feature_extractor(name: str, inception_weights: str = '') -> FeatureExtractor:
  """The extractor of feature space `name`.

  Raises:
    JganError: an unknown name, or Inception weights that cannot be read.
  """
  if name == 'digits':
    return digits_classifier.load_or_train().extractor()
  if name == 'inception':
    return inception.feature_extractor(inception.load_variables(inception_weights))
  raise JganError(f"unknown feature extractor {name!r}: use one of {', '.join(FEATURES)}")


def real_images(config: ml_collections.ConfigDict, split: str, limit: int) -> np.ndarray:
  """Up to `limit` real images of `split`, through the training pipeline's preprocessing."""
  source, _ = pipeline.make_source(pipeline.with_split(config.data, split))
  count = min(limit, len(source))
  return np.stack([pipeline.preprocess(source[i], config.data.resolution, config.data.channels)['image']
                   for i in range(count)])


def real_features(extractor: FeatureExtractor, features: str, config: ml_collections.ConfigDict, split: str,
                  limit: int) -> tuple[np.ndarray, np.ndarray]:
  """Features and probabilities of real images, cached per extractor, dataset, split and resolution."""
  key = json.dumps([features, config.eval.inception_weights if features == 'inception' else '',
                    config.data.to_dict(), split, limit], sort_keys=True)
  path = os.path.join(cache_dir(), 'stats', f'{features}_{config.data.name}_{split}_'
                      f'{config.data.resolution}_{hashlib.sha256(key.encode()).hexdigest()[:12]}.npz')
  if os.path.exists(path):
    try:
      with np.load(path) as stored:
        return stored['features'], stored['probs']
    except (OSError, ValueError, KeyError) as error:
      logging.warning('recomputing real statistics: cannot read %s (%s)', path, error)
  feats, probs = extractor.features_and_probs(real_images(config, split, limit))
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = path + '.tmp.npz'
  np.savez(tmp, features=feats, probs=probs)
  os.replace(tmp, path)
  return feats, probs


def feature_metrics(real_feats: np.ndarray, fake_feats: np.ndarray, fake_probs: np.ndarray) -> dict[str, float]:
  """Every feature-space metric of `fake` against `real`."""
  is_mean, is_std = inception_score(fake_probs)
  # Subsets of at most half the samples, so that their spread estimates KID's uncertainty (Binkowski et al.
  # use 1,000 of 50,000; with as few as 1,000 samples every 1,000-subset is the whole set).
  kid_mean, kid_std = kernel_inception_distance(real_feats, fake_feats,
                                                subset_size=min(1000, len(real_feats) // 2, len(fake_feats) // 2))
  precision, recall = precision_recall(real_feats, fake_feats)
  frequencies = np.bincount(fake_probs.argmax(axis=-1), minlength=fake_probs.shape[-1]) / len(fake_probs)
  present = frequencies[frequencies > 0]
  return {
      'fd': frechet.frechet_distance_from_features(real_feats, fake_feats),
      'is': is_mean, 'is_std': is_std,
      'kid': kid_mean, 'kid_std': kid_std,
      'precision': precision, 'recall': recall,
      'confidence': float(fake_probs.max(axis=-1).mean()),
      # Entropy of the argmax class frequencies: log(classes) when balanced, 0 under mode collapse.
      'class_entropy': float(0.0 - np.sum(present * np.log(present))),  # 0.0 - x: no '-0' for one class
  }


def parzen_metrics(fake: np.ndarray, points: np.ndarray) -> dict[str, float]:
  """Goodfellow et al. 2014, Sec. 5: sigma chosen on the first half of `points`, log-likelihood of the rest,
  in pixel space scaled to [0, 1] as the paper's MNIST numbers are."""
  flat = lambda x: (np.asarray(x, np.float64).reshape(len(x), -1) + 1.0) / 2.0
  half = len(points) // 2
  sigma = select_sigma(flat(fake), flat(points[:half]))
  mean, stderr = parzen_log_likelihood(flat(fake), flat(points[half:]), sigma)
  return {'parzen_ll': mean, 'parzen_ll_stderr': stderr, 'parzen_sigma': sigma}


def class_agreement(probs: np.ndarray, labels: np.ndarray) -> float:
  """The fraction of a conditional generator's samples that the classifier assigns to the requested class:
  meaningful where the classifier's classes are the dataset's (the digits classifier on the digits)."""
  return float(np.mean(probs.argmax(axis=-1) == np.asarray(labels)))
