"""Metrics of a trained generator: python -m jgan.evaluate --workdir=runs/dcgan_digits

In a feature space (the digits classifier, offline; or FID's Inception network, given its weights):
Frechet distance (FID with Inception features), Inception Score, KID, precision and recall, the mean top
class probability and the entropy of the predicted classes; for a conditional generator of digits, the
fraction of samples the classifier assigns to the requested class. In pixel space: the Gaussian Parzen-window
log-likelihood of Goodfellow et al. 2014. Samples come from the EMA generator where the run keeps one.
Prints a table and writes <workdir>/eval/step_N.json.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable

import jax
import ml_collections
import numpy as np
from absl import app, flags, logging

from jgan import cache, runs
from jgan import config as config_lib
from jgan.data import pipeline
from jgan.errors import JganError, exit_on_error
from jgan.metrics import frechet
from jgan.metrics.inception_score import inception_score
from jgan.metrics.kid import kernel_inception_distance
from jgan.metrics.parzen import parzen_log_likelihood, select_sigma
from jgan.metrics.precision_recall import precision_recall

FEATURES = ('digits', 'inception')


def feature_extractor(name: str, inception_weights: str = ''):
  """An object with `features_and_probs(images) -> (features, class probabilities)`."""
  if name == 'digits':
    from jgan.metrics import digits_classifier

    return digits_classifier.load_or_train()
  if name == 'inception':
    from jgan.metrics import inception

    return inception.InceptionFeatures(inception.load_variables(inception_weights))
  raise JganError(f"unknown feature extractor {name!r}: use one of {', '.join(FEATURES)}")


def real_images(config: ml_collections.ConfigDict, split: str, limit: int) -> np.ndarray:
  """Up to `limit` real images of `split`, through the training pipeline's preprocessing."""
  source, _ = pipeline.make_source(pipeline.with_split(config.data, split))
  count = min(limit, len(source))
  return np.stack([pipeline.preprocess(source[i], config.data.resolution, config.data.channels)['image']
                   for i in range(count)])




def real_features(extractor, features: str, config: ml_collections.ConfigDict, split: str,
                  limit: int) -> tuple[np.ndarray, np.ndarray]:
  """Features and probabilities of real images, cached per extractor, dataset, split and resolution."""
  key = json.dumps([features, config.eval.inception_weights if features == 'inception' else '',
                    config.data.to_dict(), split, limit], sort_keys=True)
  path = os.path.join(cache.cache_dir(), 'stats', f'{features}_{config.data.name}_{split}_'
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


def generate(run: runs.Run, num_samples: int, seed: int, transform: Callable | None = None) -> np.ndarray:
  """`num_samples` images from the run's sampling (EMA) parameters; `transform` edits the sample inputs."""
  inputs = run.game.sample_inputs(jax.random.key(seed), num_samples)
  return runs.sample_images(jax.jit(run.game.sample), run.state, transform(inputs) if transform else inputs)


def class_agreement(probs: np.ndarray, labels: np.ndarray) -> float:
  """The fraction of a conditional generator's samples that the classifier assigns to the requested class:
  meaningful where the classifier's classes are the dataset's (the digits classifier on the digits)."""
  return float(np.mean(probs.argmax(axis=-1) == np.asarray(labels)))


def evaluate_run(run: runs.Run, num_samples: int, features: str, parzen_split: str = 'test') -> dict[str, float]:
  """All metrics of `run` on `num_samples` samples against as many real training images."""
  config = run.config
  extractor = feature_extractor(features, config.eval.inception_weights)
  inputs = run.game.sample_inputs(jax.random.key(config.seed + 2), num_samples)
  fake = runs.sample_images(jax.jit(run.game.sample), run.state, inputs)
  real_feats, _ = real_features(extractor, features, config, config.data.split, num_samples)
  fake_feats, fake_probs = extractor.features_and_probs(fake)
  metrics = feature_metrics(real_feats, fake_feats, fake_probs)
  if 'label' in inputs and features == 'digits' and config.data.name == 'digits':
    metrics['class_agreement'] = class_agreement(fake_probs, inputs['label'])
  if parzen_split:
    metrics.update(parzen_metrics(fake, real_images(config, parzen_split, num_samples)))
  return metrics


def main(argv: list[str]) -> None:
  del argv
  FLAGS = flags.FLAGS
  logging.set_verbosity(logging.WARNING)
  with exit_on_error():
    run = runs.load_tool_run(FLAGS.workdir, FLAGS.step, FLAGS.inception_weights)
    features = FLAGS.features or config_lib.eval_features(run.config) or 'inception'
    metrics = evaluate_run(run, FLAGS.num_samples, features, FLAGS.parzen_split)
  print(f'{run.config.model.name} on {run.config.data.name}, step {run.step}, {FLAGS.num_samples} samples, '
        f'{features} features')
  for name, value in metrics.items():
    print(f'  {name:<18} {value:.6g}')
  path = os.path.join(FLAGS.workdir, 'eval', f'step_{run.step}.json')
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    json.dump({'step': run.step, 'num_samples': FLAGS.num_samples, 'features': features, **metrics}, f, indent=2)
  print(f'wrote {path}')


if __name__ == '__main__':
  # Defined only when run as a program, so that the tools can import one another.
  flags.DEFINE_string('workdir', None, 'The training run to evaluate.')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
  flags.DEFINE_integer('num_samples', 10000, 'Generated images (and at most as many real ones).')
  flags.DEFINE_enum('features', None, list(FEATURES), "Feature space (default: 'inception' if "
                    "--inception_weights is given, 'digits' for the digits).")
  flags.DEFINE_string('inception_weights', None, 'Converted FID Inception weights (.npz).')
  flags.DEFINE_string('parzen_split', 'test', "Real split for the Parzen window ('' to skip).")
  app.run(main)
