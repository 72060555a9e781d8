"""Pix2Pix, CycleGAN and SRGAN learn their offline demos on scikit-learn's bundled photos, at CI size, and the
translate tool applies a trained generator to the user's images."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from jgan import train
from jgan.config import load_file
from jgan.data import pairs, photos
from tests.small import ROOT, metrics_by_step

pytestmark = pytest.mark.slow  # trains to a measured result, or runs a notebook or processes


def _train_demo(name: str, workdir, steps: int, model: dict, batch_size: int, checkpoint_every: int = 0,
                **gan) -> dict[int, dict]:
  """Trains configs/<name>.py with a smaller `model` for `steps`; returns the held-out scores by step
  (measured at 0, every `checkpoint_every` steps, and at the end)."""
  config = load_file(os.path.join(ROOT, 'configs', f'{name}.py'))
  config.model.update(model)
  config.gan.update(gan)
  config.train.update(steps=steps, batch_size=batch_size, log_every=steps, sample_every=steps,
                      checkpoint_every=checkpoint_every or steps, grid_size=4)
  config.eval.num_samples = 64
  train.run(config, str(workdir))
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    rows = [row for row in map(json.loads, f) if any(k.startswith('eval/held_out_') for k in row)]
  prefix = 'eval/held_out_'
  return {row['step']: {k[len(prefix):]: v for k, v in row.items() if k.startswith(prefix)} for row in rows}


@pytest.fixture(scope='module')
def pix2pix_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('pix2pix_demo')
  scores = _train_demo('pix2pix_demo', workdir, 200, {'g_width': 8, 'd_width': 8}, 8)
  return workdir, scores


def test_pix2pix_learns_to_draw_photos_from_edges(pix2pix_run):
  workdir, scores = pix2pix_run
  first, last = scores[0]['l1'], scores[200]['l1']
  # Measured here: 0.643 untrained -> 0.299 after 200 steps.
  print(f'Pix2Pix held-out L1 to the target: {first:.3f} untrained -> {last:.3f} after 200 steps')
  assert last < 0.7 * first
  with Image.open(workdir / 'samples' / 'step_0000200.png') as grid:
    # 4 held-out examples as rows of input | output | target, 32x32 tiles 2 apart, drawn at 2x.
    assert grid.size == ((3 * 34 + 2) * 2, (4 * 34 + 2) * 2)


def _translate(*args):
  return subprocess.run([sys.executable, '-m', 'jgan.translate', *args], capture_output=True, text=True,
                        timeout=300)


def test_translate_tool_applies_the_generator_to_images(pix2pix_run, tmp_path):
  workdir, _ = pix2pix_run
  sketch = pairs.edge_map(Image.fromarray(photos.photo_tiles('china', 'test')[0]), 1)
  sketch.save(tmp_path / 'sketch.png')  # 64x64: this U-Net halves 5 times, so it takes multiples of 32
  result = _translate(f'--workdir={workdir}', f'--input={tmp_path / "sketch.png"}', f'--output={tmp_path / "out"}')
  assert result.returncode == 0, result.stderr[-2000:]
  with Image.open(tmp_path / 'out' / 'sketch.png') as output:
    assert output.size == (64, 64) and output.mode == 'RGB'
  sketch.crop((0, 0, 50, 50)).save(tmp_path / 'odd.png')
  result = _translate(f'--workdir={workdir}', f'--input={tmp_path / "odd.png"}', f'--output={tmp_path / "out"}')
  assert result.returncode == 2
  assert result.stderr.strip().endswith('is 50x50 but this generator takes sides that are multiples of 32 (it was '
                                        'trained at 32x32): crop or resize the image')
  result = _translate(f'--workdir={workdir}', f'--input={tmp_path}', f'--output={tmp_path / "out"}',
                      '--direction=BtoA')
  assert result.returncode == 2 and result.stderr.count('\n') == 1 and "not 'BtoA'" in result.stderr
  result = subprocess.run([sys.executable, '-m', 'jgan.sample', f'--workdir={workdir}'], capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 2 and result.stderr.count('\n') == 1
  assert 'holds a pix2pix run, which translates images rather than sampling them' in result.stderr


def test_cyclegan_learns_to_reconstruct(tmp_path):
  scores = _train_demo('cyclegan_demo', tmp_path, 200, {'g_width': 8, 'd_width': 8, 'res_blocks': 1}, 4)
  first, last = scores[0]['cycle_l1'], scores[200]['cycle_l1']
  # Measured here: 0.679 untrained -> 0.461 after 200 steps (0.436 after 300).
  print(f'CycleGAN held-out cycle L1: {first:.3f} untrained -> {last:.3f} after 200 steps')
  assert last < 0.8 * first


def test_srgan_beats_bicubic_upsampling(tmp_path):
  scores = _train_demo('srgan_demo', tmp_path, 450, {'g_width': 16, 'res_blocks': 2, 'd_width': 8}, 16,
                       checkpoint_every=400, pretrain_steps=400)
  for step, stage in ((400, 'SRResNet (MSE only)'), (450, 'SRGAN')):
    s = scores[step]
    print(f"{stage} at step {step}: held-out PSNR of the set {s['psnr_set']:.2f} dB (mean over patches "
          f"{s['psnr']:.2f}), SSIM {s['ssim']:.3f}; bicubic {s['bicubic_psnr_set']:.2f} dB "
          f"({s['bicubic_psnr']:.2f}), {s['bicubic_ssim']:.3f}")
    assert s['psnr_set'] > s['bicubic_psnr_set']


def test_a_resumed_cyclegan_run_equals_the_uninterrupted_one(tmp_path):
  # The image pools (filled after one step, swapping from then on), the optimiser counts and the data
  # position, with its random crops, are all in the checkpoint.
  config = load_file(os.path.join(ROOT, 'configs', 'cyclegan_demo.py'))
  config.model.update(g_width=4, d_width=4, res_blocks=1)
  config.data.resolution = 16
  config.gan.pool_size = 2
  config.optim.g.decay_fraction = config.optim.d.decay_fraction = 0.0  # train.steps changes below
  config.train.update(steps=4, batch_size=2, log_every=1, sample_every=2, checkpoint_every=2, grid_size=2)
  config.eval.num_samples = 0
  train.run(config, str(tmp_path / 'straight'))
  interrupted = config.copy_and_resolve_references()
  interrupted.train.steps = 2
  train.run(interrupted, str(tmp_path / 'resumed'))
  train.run(config, str(tmp_path / 'resumed'))
  straight, resumed = metrics_by_step(tmp_path / 'straight'), metrics_by_step(tmp_path / 'resumed')
  assert resumed[3] == straight[3] and resumed[4] == straight[4]
  grids = [np.asarray(Image.open(tmp_path / run / 'samples' / 'step_0000004.png')) for run in ('straight', 'resumed')]
  np.testing.assert_array_equal(*grids)
