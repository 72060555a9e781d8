"""jgan.plan: parameters, FLOPs and memory of a config's step, computed without running it."""
import functools
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest
from jax import lax

from jgan import engine, games, plan, sharding
from jgan.config import base_config, load_file
from jgan.engine import init_state, train_step
from tests.small import ROOT


def test_the_full_biggan_config_is_planned_abstractly():
  config = load_file(os.path.join(ROOT, 'configs', 'biggan_imagenet128.py'))
  result = plan.make_plan(config, compile_step=False)
  assert result.parameters == {'g': 70_433_988, 'd': 87_982_370}  # about 158M, as BigGAN-PyTorch builds them
  assert (result.batch_size, result.resolution) == (2048, 128)
  # Parameters, Adam's two moments and G's EMA copy, float32: (158.4M + 2 * 158.4M + 70.4M) * 4 bytes, plus
  # the small BatchNorm and spectral-norm collections.
  expected = (3 * 158_416_358 + 70_433_988) * 4
  assert expected < result.state_bytes < expected * 1.01


def test_a_compiled_plan_counts_flops_and_memory():
  config = base_config('dcgan', g_width=8, d_width=8, z_dim=16)
  config.data.resolution = 16
  config.train.batch_size = 32
  small = plan.make_plan(config)
  config.train.batch_size = 64
  large = plan.make_plan(config)
  assert small.flops > 0 and small.memory['peak'] > small.memory['arguments'] > 0
  assert large.flops == pytest.approx(2 * small.flops, rel=0.1)  # the step's work grows with the batch
  assert large.memory['temporaries'] > small.memory['temporaries']


def test_flops_are_counted_on_a_cpu_compilation():
  # jgan.engine.cpu_flops, which make_plan uses where the devices are GPUs (whose compilations leave cuDNN's
  # convolutions out of XLA's count): a convolution's 2 x multiply-adds, and a step as a CPU plan counts it.
  images, kernel = jax.ShapeDtypeStruct((2, 8, 8, 3), jnp.float32), jax.ShapeDtypeStruct((3, 3, 3, 16), jnp.float32)
  conv = functools.partial(lax.conv_general_dilated, window_strides=(1, 1), padding='VALID',
                           dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  assert engine.cpu_flops(conv, images, kernel) == 2 * (2 * 6 * 6 * 16) * (3 * 3 * 3)
  config = base_config('dcgan', g_width=8, d_width=8, z_dim=16)
  config.data.resolution = 16
  config.train.batch_size = 32
  game = games.build_game(config)
  state = jax.eval_shape(functools.partial(init_state, game), jax.random.key(0))
  batch = plan.abstract_batch(config, game, 32, 16)
  step_flops = engine.cpu_flops(lambda state, batch: train_step(game, state, batch, (True, True)), state, batch)
  assert step_flops == pytest.approx(plan.make_plan(config, mesh=sharding.make_mesh(jax.devices()[:1])).flops,
                                     rel=0.01)


@pytest.mark.slow
def test_plan_tool_prints_the_report(tmp_path):
  config = os.path.join(ROOT, 'configs', 'progan_digits.py')
  result = subprocess.run([sys.executable, '-m', 'jgan.plan', f'--config={config}', '--config.model.fmap_max=16'],
                          capture_output=True, text=True, cwd=ROOT)
  assert result.returncode == 0, result.stderr
  assert 'global batch 32 at 32x32' in result.stdout  # the growing game's last stage
  assert 'GFLOP' in result.stdout and 'peak about' in result.stdout
  wrong = subprocess.run([sys.executable, '-m', 'jgan.plan', f'--config={config}', '--config.model.name=nope'],
                         capture_output=True, text=True, cwd=ROOT)
  assert wrong.returncode == 2 and wrong.stderr.startswith("error: unknown model 'nope'")
