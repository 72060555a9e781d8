"""Mixed precision, model.compute_dtype = 'bfloat16', in every family: the convolutions and matrix products run
in bfloat16 while the training state and the losses stay float32, and a digits run still learns."""
import functools
import json
import math
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend import core

from jgan import games, models, train
from jgan.config import load_file
from jgan.engine import NONFINITE, init_state, train_step
from jgan.errors import JganError
from jgan.plan import abstract_batch
from tests.small import ROOT, shrink

# One config per family.
FAMILY_CONFIGS = ('gan_digits', 'dcgan_digits', 'biggan_digits', 'sngan_cifar10', 'progan_digits', 'stylegan_ffhq256',
                  'stylegan2_digits', 'pix2pix_demo', 'cyclegan_demo', 'srgan_demo')


def _config(name, data_dir, compute_dtype='bfloat16'):
  config = shrink(load_file(os.path.join(ROOT, 'configs', f'{name}.py')), data_dir)
  config.model.compute_dtype = compute_dtype
  return config


def _matmul_flops(jaxpr: core.Jaxpr, flops: dict[str, float]) -> dict[str, float]:
  """Multiply-adds of every convolution and matrix product in `jaxpr` (nested ones included), by the dtype of
  their operands."""
  for eqn in jaxpr.eqns:
    for param in eqn.params.values():
      for sub in param if isinstance(param, (tuple, list)) else (param,):
        if isinstance(sub, core.ClosedJaxpr):
          _matmul_flops(sub.jaxpr, flops)
        elif isinstance(sub, core.Jaxpr):
          _matmul_flops(sub, flops)
    if eqn.primitive.name not in ('dot_general', 'conv_general_dilated'):
      continue
    lhs, rhs, out = eqn.invars[0].aval, eqn.invars[1].aval, eqn.outvars[0].aval
    if eqn.primitive.name == 'dot_general':
      (contracting, _), _ = eqn.params['dimension_numbers']
      count = math.prod(out.shape) * math.prod(lhs.shape[d] for d in contracting)
    else:
      rhs_spec = eqn.params['dimension_numbers'].rhs_spec  # (output feature, input feature, spatial...)
      count = math.prod(out.shape) * math.prod(rhs.shape) // rhs.shape[rhs_spec[0]]
    key = str(jnp.result_type(lhs.dtype, rhs.dtype))
    flops[key] = flops.get(key, 0) + count
  return flops


def test_the_family_list_covers_every_family():
  assert {load_file(os.path.join(ROOT, 'configs', f'{n}.py')).model.name for n in FAMILY_CONFIGS} == set(
      models.family_names())


@pytest.mark.slow
@pytest.mark.parametrize('name', FAMILY_CONFIGS)
def test_bfloat16_computes_the_step_and_keeps_the_state_and_losses_float32(name, data_dir):
  config = _config(name, data_dir)
  game = games.build_game(config)
  state = jax.eval_shape(functools.partial(init_state, game), jax.random.key(0))
  stage = game.stages[-1] if game.stages else None
  batch = abstract_batch(config, game, stage.batch_size if stage else 8, stage.resolution if stage else
                         config.data.resolution)
  step = functools.partial(train_step, game, active=tuple(True for _ in game.phases))
  jaxpr, (new_state, metrics) = jax.make_jaxpr(step, return_shape=True)(state, batch)

  floating = [x for x in jax.tree.leaves((new_state.params, new_state.opt_state, new_state.ema_params,
                                          new_state.collections)) if jnp.issubdtype(x.dtype, jnp.floating)]
  chex.assert_type(floating, jnp.float32)  # parameters, optimiser state, EMA, BatchNorm and spectral-norm state
  metrics.pop(NONFINITE)  # the finite check's flag, an int32
  chex.assert_type(list(metrics.values()), jnp.float32)  # the losses
  flops = _matmul_flops(jaxpr.jaxpr, {})
  # What stays float32 is small: StyleGAN's mapping network, StyleGAN2's 4x4 block, the projection head, the
  # bicubic upsampling of SRGAN's input.
  share = flops.get('bfloat16', 0) / sum(flops.values())
  assert share > 0.8, (share, flops)


def test_float32_is_the_default_and_computes_in_float32(data_dir):
  config = shrink(load_file(os.path.join(ROOT, 'configs', 'dcgan_digits.py')), data_dir)
  assert config.model.compute_dtype == 'float32'
  game = games.build_game(config)
  state = jax.eval_shape(functools.partial(init_state, game), jax.random.key(0))
  batch = abstract_batch(config, game, 8, config.data.resolution)
  jaxpr = jax.make_jaxpr(functools.partial(train_step, game, active=(True, True)))(state, batch)
  assert set(_matmul_flops(jaxpr.jaxpr, {})) == {'float32'}


def test_an_unknown_compute_dtype_is_named(data_dir):
  with pytest.raises(JganError, match="model.compute_dtype must be one of float32, bfloat16, not 'float16'"):
    games.build_game(_config('dcgan_digits', data_dir, 'float16'))


@pytest.mark.slow
def test_a_bfloat16_digits_run_learns(tmp_path, data_dir):
  # Measured here (2-core CPU): the digits Frechet distance of the default DCGAN in bfloat16 falls from 1788
  # (untrained) to 66 after 500 steps, as in float32 (66). Demand a 10x improvement.
  config = load_file(os.path.join(ROOT, 'configs', 'dcgan_digits.py'))
  config.data.data_dir = data_dir
  config.model.compute_dtype = 'bfloat16'
  config.train.update(steps=500, log_every=100, sample_every=500, checkpoint_every=500)
  metrics = train.run(config, str(tmp_path))
  assert all(np.isfinite(v) for v in metrics.values())
  with open(tmp_path / 'metrics.jsonl') as f:
    fd = {row['step']: row['eval/digits_fd'] for row in map(json.loads, f) if 'eval/digits_fd' in row}
  print(f'bfloat16 digits FD: untrained {fd[0]:.1f}, after 500 steps {fd[500]:.1f}')
  assert fd[500] < fd[0] / 10, fd
