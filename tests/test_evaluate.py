"""One short training run of the README default, then everything measured on it: learning, the metrics,
the best checkpoint, and the evaluate and sample tools."""
import json
import os
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jgan import evaluate, runs, sample, train, truncation
from jgan.config import load_file
from jgan.errors import JganError
from jgan.games.latents import lerp, slerp
from jgan.metrics import features
from tests.small import ROOT


@pytest.fixture(scope='module')
def trained(tmp_path_factory, data_dir):
  workdir = tmp_path_factory.mktemp('dcgan_digits')
  config = load_file(os.path.join(ROOT, 'configs', 'dcgan_digits.py'))
  config.data.data_dir = data_dir
  config.train.update(steps=600, log_every=100, sample_every=600, checkpoint_every=300)
  train.run(config, str(workdir))
  with open(workdir / 'metrics.jsonl') as f:
    evals = {row['step']: row for row in map(json.loads, f) if 'eval/digits_fd' in row}
  return workdir, evals


@pytest.mark.slow
def test_the_default_dcgan_learns_the_digits(trained):
  # Measured here (2-core CPU): the digits Frechet distance falls from 1788 (untrained) to 59 after 600
  # steps (KID 1498 to 80); real test digits score 9 against the training digits. Demand a 10x improvement,
  # in KID too.
  _, evals = trained
  fd = {step: row['eval/digits_fd'] for step, row in evals.items()}
  kid = {step: row['eval/digits_kid'] for step, row in evals.items()}
  print(f'digits FD: untrained {fd[0]:.1f}, after 600 steps {fd[600]:.1f}; KID {kid[0]:.3f} -> {kid[600]:.3f}')
  assert fd[600] < fd[0] / 10, fd
  assert kid[600] < kid[0] / 10, kid


@pytest.mark.slow
def test_the_best_checkpoint_is_kept_beside_the_latest(trained):
  workdir, evals = trained
  record = json.loads((workdir / 'best' / 'best.json').read_text())
  best_step = min((300, 600), key=lambda step: evals[step]['eval/digits_fd'])
  assert record == {'step': best_step, 'metric': 'fd', 'value': evals[best_step]['eval/digits_fd']}
  assert os.listdir(workdir / 'best').count(str(best_step)) == 1
  assert runs.load_run(str(workdir)).step == 600


@pytest.mark.slow
def test_evaluate_reports_every_metric_and_narrow_latents_lose_recall(trained):
  workdir, _ = trained
  run = runs.load_run(str(workdir))
  metrics = evaluate.evaluate_run(run, num_samples=500, feature_space='digits')
  assert {'fd', 'is', 'kid', 'precision', 'recall', 'parzen_ll', 'parzen_ll_stderr'} <= set(metrics)
  assert 1.0 < metrics['is'] <= 10.0 and 0.0 <= metrics['precision'] <= 1.0
  # Sampling z from a narrower distribution (z scaled by psi) gives less varied samples: recall falls
  # (Kynkaanniemi et al. 2019). Measured here: recall 0.57, 0.52, 0.40 at psi 1, 0.85, 0.7.
  # Precision does not rise for this DCGAN: its generator samples with BatchNorm running
  # statistics, which narrowed latents no longer match; BigGAN's truncation trick is where precision rises.
  extractor = features.feature_extractor('digits')
  real, _ = features.real_features(extractor, 'digits', run.config, 'train', 500)
  recall = {}
  for psi in (1.0, 0.85, 0.7):
    inputs = run.game.sample_inputs(jax.random.key(7), 500)
    fake = runs.sample_images(jax.jit(run.game.sample), run.state, {'z': inputs['z'] * psi})
    recall[psi] = features.feature_metrics(real, *extractor.features_and_probs(fake))['recall']
  print('recall by psi', recall)
  assert recall[1.0] > recall[0.85] > recall[0.7]
  assert recall[0.7] < 0.75 * recall[1.0]


@pytest.mark.slow
def test_the_evaluate_tool_prints_a_table_and_writes_json(trained):
  workdir, _ = trained
  result = subprocess.run([sys.executable, '-m', 'jgan.evaluate', f'--workdir={workdir}', '--num_samples=300'],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'step 600' in result.stdout and 'kid' in result.stdout and 'parzen_ll' in result.stdout
  report = json.loads((workdir / 'eval' / 'step_600.json').read_text())
  assert report['features'] == 'digits' and report['num_samples'] == 300 and np.isfinite(report['fd'])


@pytest.mark.slow
def test_the_sample_tool_writes_grids(trained, tmp_path):
  workdir, _ = trained
  paths = sample.write_grids(runs.load_run(str(workdir)), str(tmp_path), rows=4, steps=6, neighbours=3)
  shapes = {os.path.basename(p): np.asarray(Image.open(p)).shape for p in paths}
  side = lambda n: 2 * (n * (32 + 2) + 2)  # n images of 32 pixels with 2-pixel gaps, shown 2x
  assert shapes == {'samples.png': (side(4), side(4)), 'interpolation_lerp.png': (side(4), side(6)),
                    'interpolation_slerp.png': (side(4), side(6)), 'nearest_neighbours.png': (side(4), side(4))}


@pytest.mark.slow
def test_a_small_threshold_collapses_variety(trained):
  # Brock et al. 2019, Sec. 3.1: as the threshold falls to 0, z collapses onto the mode and variety goes.
  # Measured here (300 samples, digits classifier): threshold 2: class entropy 2.18, recall 0.50, IS 4.7,
  # FD 85; threshold 0.05: one class (entropy 0, confidence 1.0, IS 1.0), recall 0, FD 1830. Precision falls
  # too (0.41 -> 0): this DCGAN's BatchNorm running statistics do not fit narrowed latents (test_evaluate).
  rows = truncation.sweep(runs.load_run(str(trained[0])), [2.0, 0.05], 'resample', num_samples=300, seed=1)
  wide, narrow = rows
  print({row['threshold']: {k: round(v, 3) for k, v in row.items() if k != 'threshold'} for row in rows})
  assert [row['threshold'] for row in rows] == [2.0, 0.05]
  assert narrow['class_entropy'] < 0.5 * wide['class_entropy']
  assert narrow['recall'] < 0.5 * wide['recall']


@pytest.mark.slow
def test_the_truncation_tool_writes_a_plot_and_json(trained, tmp_path):
  result = subprocess.run([sys.executable, '-m', 'jgan.truncation', f'--workdir={trained[0]}', f'--out={tmp_path}',
                           '--form=norm', '--thresholds=none,8,4', '--num_samples=200'],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'norm truncation' in result.stdout and 'recall' in result.stdout
  report = json.loads((tmp_path / 'truncation_norm.json').read_text())
  assert report['form'] == 'norm' and report['num_samples'] == 200
  assert [row['threshold'] for row in report['rows']] == [None, 8.0, 4.0]
  assert all(np.isfinite(row[name]) for row in report['rows'] for name in truncation.METRICS)
  with Image.open(tmp_path / 'truncation_norm.png') as image:
    assert image.mode == 'RGB' and image.width > image.height > 100
    assert len(image.getcolors(1 << 16)) > 2  # something drawn on the white


@pytest.mark.slow
def test_a_run_saved_before_newer_config_keys_still_loads(trained, tmp_path):
  workdir = tmp_path / 'old_run'
  shutil.copytree(trained[0], workdir)
  config = json.loads((workdir / 'config.json').read_text())
  del config['train']['grad_accumulation'], config['gan']['ortho_weight']  # keys added after a run was saved
  config['gan']['r1_gamma'] = 0.0  # runs saved when every config held every game's keys
  (workdir / 'config.json').write_text(json.dumps(config))
  run = runs.load_run(str(workdir))
  assert run.step == 600 and run.game.accumulation == 1 and run.config.gan.ortho_weight == 0.0
  assert 'r1_gamma' not in run.config.gan


def test_tools_name_a_missing_run_in_one_line(tmp_path):
  with pytest.raises(JganError, match='no training run'):
    runs.load_run(str(tmp_path))
  result = subprocess.run([sys.executable, '-m', 'jgan.sample', f'--workdir={tmp_path}'], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
  assert result.returncode == 2 and result.stderr.strip().startswith('error: no training run')


def test_interpolations_join_their_endpoints():
  z0, z1 = jnp.array([3.0, 0.0]), jnp.array([0.0, 3.0])
  t = jnp.linspace(0.0, 1.0, 5)
  for path in (lerp(z0, z1, t), slerp(z0, z1, t)):
    np.testing.assert_allclose(path[0], z0, atol=1e-6)
    np.testing.assert_allclose(path[-1], z1, atol=1e-6)
  np.testing.assert_allclose(jnp.linalg.norm(slerp(z0, z1, t), axis=1), 3.0, rtol=1e-6)
  np.testing.assert_allclose(lerp(z0, z1, t)[2], [1.5, 1.5])
  np.testing.assert_allclose(slerp(z0, z0, t), jnp.stack([z0] * 5), rtol=1e-6)


def test_nearest_neighbours_in_pixel_space():
  training = np.array([[[[0.0]]], [[[1.0]]], [[[5.0]]]])
  samples = np.array([[[[0.9]]], [[[4.0]]]])
  np.testing.assert_array_equal(sample.nearest_neighbours(samples, training, 2), [[1, 0], [2, 1]])
