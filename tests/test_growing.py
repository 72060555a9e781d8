"""Progressive growing: the schedule of levels and fades, the data of each level, a resume mid-fade, and ProGAN
learning the bundled digits level by level."""
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jgan import games, runs, train
from jgan.config import load_file
from jgan.data import pipeline
from jgan.errors import JganError
from jgan.games import growing
from tests.small import ROOT, metrics_by_step, tiny_progan


def test_the_schedule_grows_level_by_level(data_dir):
  config = tiny_progan(data_dir)
  spans = [(s.level, s.fading, s.start, s.steps, s.batch_size) for s in growing.schedule(config)]
  # 32 images at batch 16 are 2 steps; 48 are 3 at batch 16 and 6 at batch 8.
  assert spans == [(0, False, 0, 2, 16), (1, True, 2, 3, 16), (1, False, 5, 2, 16), (2, True, 7, 6, 8),
                   (2, False, 13, None, 8)]
  # The images shown before the final stable span, 16 * 7 + 8 * 6 = 160, then 8 per step.
  assert growing.steps_for_images(config, 160 + 80) == 13 + 10
  assert [(s.start, s.batch_size, s.resolution) for s in growing.stages(config)] == [
      (0, 16, 4), (2, 16, 8), (5, 16, 8), (7, 8, 16), (13, 8, 16)]
  config.grow.update(stable_images=0, fade_images=0)  # no growing: the final level from the first step
  assert [(s.level, s.start) for s in growing.schedule(config)] == [(2, 0)]


def test_per_level_values_must_fit_the_levels(data_dir):
  config = tiny_progan(data_dir, lr_scales=(1.0, 1.0, 2.0, 3.0))
  with pytest.raises(JganError, match='grow.lr_scales has 4 entries but the run has 3 levels'):
    games.build_game(config)


def test_each_level_has_its_learning_rate_scale(data_dir):
  spans = growing.schedule(tiny_progan(data_dir))
  scale = growing.level_lr_scale(spans, [1.0, 2.0, 4.0], updates_per_step=1)
  assert [float(scale(jnp.asarray(step))) for step in (0, 1, 2, 6, 7, 40)] == [1.0, 1.0, 2.0, 2.0, 4.0, 4.0]


def test_a_level_reads_pooled_images_from_where_the_last_stopped(data_dir):
  config = tiny_progan(data_dir)
  full, _ = pipeline.make_dataset(config.data, 8, 1, seed=0)
  pooled, _ = pipeline.make_dataset(config.data, 4, 1, seed=0, first_image=8, resolution=4)
  images, small = full[1]['image'][0], pooled[0]['image'][0]  # images 8..15, then 8..11 pooled 4x4
  chex.assert_shape(small, (4, 4, 4, 1))
  expected = images[:4].reshape(4, 4, 4, 4, 4, 1).mean(axis=(2, 4))
  np.testing.assert_allclose(small, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_a_run_resumed_mid_fade_continues_with_the_same_alpha(data_dir, tmp_path):
  config = tiny_progan(data_dir)
  train.run(config, str(tmp_path / 'straight'))
  interrupted = config.copy_and_resolve_references()
  interrupted.train.steps = 9  # level 2 fades over steps 7..12: stopped at alpha 2/6
  train.run(interrupted, str(tmp_path / 'resumed'))
  paused = runs.load_run(str(tmp_path / 'resumed'))
  growth = jax.device_get(paused.state.collections['g'][growing.GROWTH])
  assert int(growth['level']) == 2 and float(growth['alpha']) == pytest.approx(1 / 6)  # step 8's update
  train.run(config, str(tmp_path / 'resumed'))
  straight, resumed = metrics_by_step(tmp_path / 'straight'), metrics_by_step(tmp_path / 'resumed')
  assert [straight[step]['d/alpha'] for step in (1, 3, 6, 8, 9, 10, 12)] == pytest.approx(
      [1.0, 0.0, 1.0, 0.0, 1 / 6, 2 / 6, 4 / 6])
  for step in range(10, 13):
    assert resumed[step] == straight[step]
  # Samples show the level that trained last, upsampled to the final size: 16x16, in 2x2 blocks at level 2.
  run = runs.load_run(str(tmp_path / 'resumed'))
  images = runs.sample_images(jax.jit(run.game.sample), run.state, run.game.sample_inputs(jax.random.key(0), 3))
  chex.assert_shape(images, (3, 16, 16, 1))
  assert not np.array_equal(images[:, ::2], images[:, 1::2])
  paused.state = paused.state.replace(collections={'g': {growing.GROWTH: {'level': jnp.asarray(1, jnp.int32),
                                                                          'alpha': jnp.asarray(1.0)}}, 'd': {}})
  blocky = runs.sample_images(jax.jit(run.game.sample), paused.state, run.game.sample_inputs(jax.random.key(0), 3))
  np.testing.assert_array_equal(blocky[:, ::2, ::2], blocky[:, 1::2, 1::2])


@pytest.mark.slow
def test_progan_improves_its_digits_fd_level_by_level(tmp_path, data_dir):
  config = load_file(os.path.join(ROOT, 'configs', 'progan_digits.py'))
  config.data.data_dir = data_dir
  config.model.update(fmap_base=256, fmap_max=64)
  config.grow.update(stable_images=1280, fade_images=1280, batch_sizes=(32, 32, 32, 32))
  config.train.update(steps=280, log_every=20, sample_every=280, checkpoint_every=140)
  config.eval.num_samples = 500
  train.run(config, str(tmp_path))
  fd = {step: row['eval/digits_fd'] for step, row in metrics_by_step(tmp_path).items() if 'eval/digits_fd' in row}
  # Measured here (2-core CPU, 85 s): FD 1271 untrained -> 270 with 16x16 fading in -> 190 at 32x32.
  print(f'ProGAN digits FD: {fd[0]:.0f} untrained -> {fd[140]:.0f} with 16x16 fading in -> {fd[280]:.0f} at 32x32')
  assert fd[280] < fd[0] / 4
  run = runs.load_run(str(tmp_path))
  assert int(run.state.collections['g'][growing.GROWTH]['level']) == 3
