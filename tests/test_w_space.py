"""The W-space tools: style mixing, truncation and interpolation grids, and projection of an image into W."""
import os
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jgan import games, runs, sharding, train, w_space
from jgan.config import base_config
from jgan.engine import initial_state
from jgan.errors import JganError
from tests.small import ROOT

ROWS = 3


def _config(data_dir, model='stylegan2'):
  config = base_config(model, z_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=16)
  config.data.update(data_dir=data_dir, resolution=16)  # 6 layers of styles: coarse 0-3, middle 4-5, no fine
  config.train.update(batch_size=4, steps=2, log_every=1, sample_every=2, checkpoint_every=2, grid_size=2)
  config.eval.num_samples = 0
  return config


@pytest.fixture(scope='module')
def net(tmp_path_factory):
  """An untrained tiny StyleGAN2 whose w_avg is the mean of its mapped latents, as training makes it."""
  config = _config(str(tmp_path_factory.mktemp('tfds')))
  game = games.build_game(config)
  run = runs.Run(config, game, initial_state(game, config.seed, sharding.make_mesh()), 0)
  network = w_space.style_network(run)
  w_avg = jnp.mean(network.map(jax.random.normal(jax.random.key(0), (1000, 8))), axis=0)
  return w_space.StyleNetwork(network.generator, network.params, w_avg, network.num_ws, network.noise_sides)


def _ws(net, seed, n=ROWS):
  return net.map(jax.random.normal(jax.random.key(seed), (n, 8)))


def test_copy_styles_takes_the_named_layers_from_the_second():
  ws_a, ws_b = jnp.zeros((2, 6, 3)), jnp.ones((2, 6, 3))
  np.testing.assert_array_equal(w_space.copy_styles(ws_a, ws_b, 4, None)[0, :, 0], [0, 0, 0, 0, 1, 1])
  np.testing.assert_array_equal(w_space.copy_styles(ws_a, ws_b, 0, 4)[1, :, 0], [1, 1, 1, 1, 0, 0])


@pytest.mark.slow
def test_style_mixing_grid_lays_out_sources_and_mixes(net):
  w_a, w_b = _ws(net, 1), _ws(net, 2, 2)
  images, groups = w_space.style_mixing_grid(net, w_a, w_b)
  assert groups == ['coarse', 'middle']  # no 64x64 layers: no fine band
  chex.assert_shape(images, ((1 + 2 * ROWS) * 3, 16, 16, 1))
  grid = images.reshape(1 + 2 * ROWS, 3, 16, 16, 1)
  np.testing.assert_allclose(grid[0, 1:], net.synthesize(w_b), atol=1e-5)
  np.testing.assert_allclose(grid[1:ROWS + 1, 0], net.synthesize(w_a), atol=1e-5)
  # Row 2 of the middle band: A[1] with B[0]'s styles in layers 4 and 5.
  ws = jnp.broadcast_to(w_a[1], (6, 8)).at[4:].set(w_b[0])
  np.testing.assert_allclose(grid[ROWS + 2, 1], net.synthesize(ws[None])[0], atol=1e-5)
  assert not np.allclose(grid[ROWS + 2, 1], grid[ROWS + 2, 0], atol=1e-3)


@pytest.mark.slow
def test_truncation_grid_runs_from_w_to_the_average_image(net):
  w = _ws(net, 3)
  grid = w_space.truncation_grid(net, w, (1.0, 0.0, -1.0)).reshape(ROWS, 3, 16, 16, 1)
  np.testing.assert_allclose(grid[:, 0], net.synthesize(w), atol=1e-5)
  average = net.synthesize(net.w_avg[None])[0]
  for row in range(ROWS):  # psi 0: the same image, w_avg's, for every latent
    np.testing.assert_allclose(grid[row, 1], average, atol=1e-5)
  np.testing.assert_allclose(grid[:, 2], net.synthesize(2 * net.w_avg - w), atol=1e-5)


@pytest.mark.slow
def test_interpolation_in_w_starts_and_ends_at_the_two_latents(net):
  w0, w1 = _ws(net, 4), _ws(net, 5)
  grid = w_space.interpolation_grid(net, w0, w1, 5).reshape(ROWS, 5, 16, 16, 1)
  np.testing.assert_allclose(grid[:, 0], net.synthesize(w0), atol=1e-5)
  np.testing.assert_allclose(grid[:, 4], net.synthesize(w1), atol=1e-5)
  np.testing.assert_allclose(grid[:, 2], net.synthesize((w0 + w1) / 2), atol=1e-5)


def test_noise_regularizer_by_hand():
  # A constant image correlates fully with its shifts: 1^2 + 1^2 at 16x16 and again pooled to 8x8.
  assert float(w_space.noise_regularizer([jnp.ones((1, 16, 16, 1))])) == pytest.approx(4.0)
  stripes = jnp.tile(jnp.asarray([1.0, -1.0]), 4)[None, :, None, None] * jnp.ones((1, 8, 8, 1))
  assert float(w_space.noise_regularizer([stripes])) == pytest.approx(2.0)  # (-1)^2 down, 1^2 across


@pytest.mark.slow
def test_projection_recovers_a_generated_image(net):
  target = np.asarray(net.synthesize(_ws(net, 6, 1)))[0]
  start = float(jnp.mean(jnp.square(net.synthesize(net.w_avg[None])[0] - target)))
  result = w_space.project(net, target, steps=150)
  chex.assert_shape(result.images, (11, 16, 16, 1))
  assert [n.shape for n in result.noise] == [(s, s, 1) for s in (4, 8, 8, 16, 16)]
  assert result.losses[-1] < result.losses[0]
  print(f'projection pixel MSE {start:.4g} from w_avg -> {result.pixel_mse:.4g}')
  assert result.pixel_mse < start / 10


def test_the_tools_refuse_a_run_without_w(tmp_path):
  # From the run's config.json, before its checkpoint is read.
  (tmp_path / 'config.json').write_text(base_config('dcgan', g_width=4, d_width=4, z_dim=8).to_json())
  with pytest.raises(JganError, match="model 'dcgan' has no W space"):
    runs.load_tool_run(str(tmp_path), None, style=True)


@pytest.mark.slow
def test_w_space_tool_writes_grids_and_a_projection(tmp_path, data_dir):
  workdir = tmp_path / 'run'
  train.run(_config(data_dir), str(workdir))
  target = tmp_path / 'digit.png'
  Image.fromarray(np.tile(np.linspace(0, 255, 20, dtype=np.uint8), (20, 1))).save(target)
  result = subprocess.run([sys.executable, '-m', 'jgan.w_space', f'--workdir={workdir}', f'--project={target}',
                           '--project_steps=20', '--features=digits'], capture_output=True, text=True, cwd=ROOT)
  assert result.returncode == 0, result.stderr
  out = workdir / 'w_space_step_2'
  assert sorted(os.listdir(out)) == ['interpolation_w.png', 'projection.png', 'projection_w.npz',
                                     'style_mixing.png', 'truncation_psi.png']
  assert 'projected' in result.stdout and 'pixel MSE' in result.stdout
  missing = subprocess.run([sys.executable, '-m', 'jgan.w_space', f'--workdir={workdir}', '--project=nope.png'],
                           capture_output=True, text=True, cwd=ROOT)
  assert missing.returncode == 2 and missing.stderr.count('\n') == 1 and "cannot read --project='nope.png'" in \
      missing.stderr
