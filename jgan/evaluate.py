"""Metrics of a trained generator: python -m jgan.evaluate --workdir=runs/dcgan_digits

In a feature space (the digits classifier, offline; or FID's Inception network, given its weights):
Frechet distance (FID with Inception features), Inception Score, KID, precision and recall, the mean top
class probability and the entropy of the predicted classes; for a conditional generator of digits, the
fraction of samples the classifier assigns to the requested class. In pixel space: the Gaussian Parzen-window
log-likelihood of Goodfellow et al. 2014. Samples come from the EMA generator where the run keeps one.
Prints a table and writes <workdir>/eval/step_N.json.
"""
from __future__ import annotations

import json
import os

import jax
from absl import flags

from jgan import runs
from jgan.errors import run_program
from jgan.metrics import features


def evaluate_run(run: runs.Run, num_samples: int, feature_space: str, parzen_split: str = 'test'
                 ) -> dict[str, float]:
  """All metrics of `run` on `num_samples` samples against as many real training images."""
  config = run.config
  extractor = features.feature_extractor(feature_space, config.eval.inception_weights)
  inputs = run.game.sample_inputs(jax.random.key(config.seed + 2), num_samples)
  fake = runs.sample_images(jax.jit(run.game.sample), run.state, inputs)
  real_feats, _ = features.real_features(extractor, feature_space, config, config.data.split, num_samples)
  fake_feats, fake_probs = extractor.features_and_probs(fake)
  metrics = features.feature_metrics(real_feats, fake_feats, fake_probs)
  if 'label' in inputs and feature_space == 'digits' and config.data.name == 'digits':
    metrics['class_agreement'] = features.class_agreement(fake_probs, inputs['label'])
  if parzen_split:
    metrics.update(features.parzen_metrics(fake, features.real_images(config, parzen_split, num_samples)))
  return metrics


def main() -> None:
  FLAGS = flags.FLAGS
  run = runs.load_tool_run(FLAGS.workdir, FLAGS.step, FLAGS.inception_weights)
  feature_space = FLAGS.features or features.feature_space(run.config) or 'inception'
  metrics = evaluate_run(run, FLAGS.num_samples, feature_space, FLAGS.parzen_split)
  print(f'{run.config.model.name} on {run.config.data.name}, step {run.step}, {FLAGS.num_samples} samples, '
        f'{feature_space} features')
  for name, value in metrics.items():
    print(f'  {name:<18} {value:.6g}')
  path = os.path.join(FLAGS.out or os.path.join(FLAGS.workdir, 'eval'), f'step_{run.step}.json')
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    json.dump({'step': run.step, 'num_samples': FLAGS.num_samples, 'features': feature_space, **metrics}, f,
              indent=2)
  print(f'wrote {path}')


if __name__ == '__main__':
  runs.define_run_flags('<workdir>/eval')
  flags.DEFINE_integer('num_samples', 10000, 'Generated images (and at most as many real ones).')
  flags.DEFINE_enum('features', None, list(features.FEATURES), "Feature space (default: 'inception' if "
                    "--inception_weights is given, 'digits' for the digits).")
  flags.DEFINE_string('inception_weights', None, 'Converted FID Inception weights (.npz).')
  flags.DEFINE_string('parzen_split', 'test', "Real split for the Parzen window ('' to skip).")
  run_program(main)
