"""The generic step: phases, repeats, lazy intervals, EMA, compile-once, and 8 devices equal 1."""
import dataclasses
import functools
import os
import subprocess
import sys
import textwrap

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jgan.config import base_config
from jgan.engine import Game, Phase, init_state, train_step, train_steps
from jgan.games import adversarial


def _toy_game(repeats=1, reg_every=1, ema_decay=0.0, ema_start=0, traces=None):
  """One scalar 'player' w; phase 'fit' pulls w towards the batch mean, phase 'reg' towards 0."""
  module = nn.Dense(1, use_bias=False)

  def fit(params, collections, batch, rng, step):
    if traces is not None:
      traces.append(1)  # Runs once per trace, never per call.
    loss = jnp.mean((params['w']['kernel'][0, 0] - batch['x']) ** 2)
    return loss, ({}, {'seen': jnp.mean(batch['x'])})

  def reg(params, collections, batch, rng, step):
    return params['w']['kernel'][0, 0] ** 2, ({}, {})

  return Game(
      modules={'w': module},
      optimizers={'w': optax.sgd(0.1)},
      phases=(Phase('fit', ('w',), fit, repeats=repeats), Phase('reg', ('w',), reg, every=reg_every)),
      init=lambda rng: {'w': module.init(rng, jnp.zeros((1, 1)))},
      sample_inputs=lambda rng, n: {},
      sample=lambda params, collections, inputs: params['w']['kernel'],
      ema_players=('w',) if ema_decay else (),
      ema_decay=ema_decay,
      ema_start=ema_start,
  )


def _batch(values):
  return {'x': jnp.asarray(values, jnp.float32)[:, None]}  # [sub_batches, 1]


def test_repeats_see_successive_sub_batches():
  game = _toy_game(repeats=3)
  state = init_state(game, jax.random.key(0))
  _, metrics = train_step(game, state, _batch([1.0, 2.0, 3.0]), (True, True))
  assert float(metrics['fit/seen']) == 2.0  # mean over repeats of sub-batches 1, 2, 3
  assert game.sub_batches == 3


def test_lazy_phase_runs_only_every_k_steps():
  game = _toy_game(reg_every=4)
  assert [game.active_phases(s) for s in range(5)] == [(True, True), (True, False), (True, False),
                                                     (True, False), (True, True)]
  state = init_state(game, jax.random.key(0))
  state, metrics = train_step(game, state, _batch([1.0]), game.active_phases(1))
  assert 'reg/loss' not in metrics and 'fit/loss' in metrics


def test_sgd_updates_follow_the_phases_in_order():
  game = _toy_game()
  state = init_state(game, jax.random.key(0))
  w0 = float(state.params['w']['kernel'][0, 0])
  state, _ = train_step(game, state, _batch([1.0]), (True, True))
  w1 = w0 - 0.1 * 2 * (w0 - 1.0)  # fit: d/dw (w - 1)^2
  w2 = w1 - 0.1 * 2 * w1  # then reg: d/dw w^2
  np.testing.assert_allclose(float(state.params['w']['kernel'][0, 0]), w2, rtol=1e-6)
  assert int(state.step) == 1


def test_ema_copies_before_start_then_averages():
  game = _toy_game(ema_decay=0.9, ema_start=1)
  state = init_state(game, jax.random.key(0))
  state, _ = train_step(game, state, _batch([1.0]), (True, True))
  np.testing.assert_allclose(state.ema_params['w']['kernel'], state.params['w']['kernel'])
  previous_ema = state.ema_params['w']['kernel']
  state, _ = train_step(game, state, _batch([1.0]), (True, True))
  decay = min(0.9, (1 + 0) / (10 + 0))  # warm-up: t = step - ema_start = 0 at this update
  np.testing.assert_allclose(state.ema_params['w']['kernel'],
                             decay * previous_ema + (1 - decay) * state.params['w']['kernel'], rtol=1e-6)
  for _ in range(100):
    previous_ema = state.ema_params['w']['kernel']
    state, _ = train_step(game, state, _batch([1.0]), (True, True))
  np.testing.assert_allclose(state.ema_params['w']['kernel'],  # t = 100: the decay has reached 0.9
                             0.9 * previous_ema + 0.1 * state.params['w']['kernel'], rtol=1e-6)
  np.testing.assert_allclose(state.sampling_params()['w']['kernel'], state.ema_params['w']['kernel'])


def test_step_compiles_once_across_iterations():
  traces = []
  game = _toy_game(traces=traces)
  step = jax.jit(functools.partial(train_step, game), static_argnums=2, donate_argnums=0)
  state = init_state(game, jax.random.key(0))
  for value in range(5):
    state, _ = step(state, _batch([float(value)]), (True, True))
  assert len(traces) == 1


def test_several_iterations_in_one_call_equal_one_call_each():
  # A lazy phase (every 2) is active in some of the scanned iterations: it runs under lax.cond there.
  game = _toy_game(repeats=2, reg_every=2, ema_decay=0.9)
  batches = [_batch([1.0 + i, -2.0 * i]) for i in range(5)]
  state = init_state(game, jax.random.key(0))
  single = []
  for step, batch in enumerate(batches):
    state, metrics = train_step(game, state, batch, game.active_phases(step))
    single.append(metrics)
  state_single = state

  state = init_state(game, jax.random.key(0))
  state, metrics = train_steps(game, state, tuple(batches[:2]), (game.active_phases(0), game.active_phases(1)))
  # Each phase's metrics from the last iteration it ran in: reg ran in iteration 0 only.
  np.testing.assert_allclose([metrics['fit/loss'], metrics['reg/loss']], [single[1]['fit/loss'], single[0]['reg/loss']],
                             rtol=1e-6)
  state, metrics = jax.jit(functools.partial(train_steps, game), static_argnums=2)(
      state, tuple(batches[2:]), tuple(game.active_phases(s) for s in range(2, 5)))
  assert int(state.step) == 5 and set(metrics) == set(single[4])
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), (state.params, state.ema_params, metrics),
               (state_single.params, state_single.ema_params, single[4]))


_EIGHT_VS_ONE = textwrap.dedent('''
    import jax, numpy as np
    from jgan import sharding
    from jgan.config import base_config
    from jgan.engine import jit_steps, initial_state
    from jgan.games import adversarial
    assert jax.device_count() == 8
    config = base_config('dcgan', g_width=4, d_width=4, z_dim=8)  # BatchNorm in G and D: global statistics
    config.data.resolution = 16
    config.gan.n_critic = 2
    config.gan.gp_weight = 10.0
    config.gan.ema_decay = 0.5
    game = adversarial.build_game(config, (16, 16, 1))
    rng = np.random.default_rng(0)
    batches = [{'image': rng.uniform(-1, 1, (2, 16, 16, 16, 1)).astype(np.float32),
                'label': np.zeros((2, 16), np.int32)} for _ in range(3)]
    finals = []
    for devices in (jax.devices()[:1], jax.devices()):
      mesh = sharding.make_mesh(devices)
      state, step = initial_state(game, 0, mesh), jit_steps(game, mesh).one
      for batch in batches:
        state, metrics = step(state, jax.device_put(batch, sharding.batch_sharding(mesh)), (True, True))
      finals.append(jax.device_get((state.params, state.collections, state.ema_params, metrics)))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5), *finals)
    print('EQUAL', len(jax.tree.leaves(finals[0])))
''')


@pytest.mark.slow
def test_eight_devices_step_equals_one_device_step():
  env = {**os.environ, 'XLA_FLAGS': '--xla_force_host_platform_device_count=8', 'JAX_PLATFORMS': 'cpu'}
  result = subprocess.run([sys.executable, '-c', _EIGHT_VS_ONE], env=env, capture_output=True, text=True,
                          timeout=300)
  assert 'EQUAL' in result.stdout, result.stderr[-3000:]


def _batchnorm_game(accumulation):
  """A player 'w' whose BatchNorm'd output is pulled towards 1: BatchNorm statistics in the collections."""
  module = nn.Sequential([nn.Dense(1, use_bias=False), nn.BatchNorm(use_running_average=False, momentum=0.9)])

  def fit(params, collections, batch, rng, step):
    out, updated = module.apply({'params': params['w'], **collections['w']}, batch['x'], mutable=['batch_stats'])
    return jnp.mean((out - batch['x'] ** 2) ** 2), ({'w': dict(updated)}, {})

  return Game(
      modules={'w': module},
      optimizers={'w': optax.sgd(0.1)},
      phases=(Phase('fit', ('w',), fit),),
      init=lambda rng: {'w': module.init(rng, jnp.zeros((1, 1)))},
      sample_inputs=lambda rng, n: {},
      sample=lambda params, collections, inputs: params['w'],
      accumulation=accumulation,
  )


def test_accumulated_micro_batches_average_to_the_full_batch_gradient():
  # Without BatchNorm the loss is a mean over independent examples: two micro-batches of 2 give exactly
  # the update of one batch of 4.
  game = _toy_game()
  x = {'x': jnp.array([[1.0, 2.0, 5.0, 7.0]])[..., None]}  # [1 sub-batch, 4, 1]
  states = [train_step(dataclasses.replace(game, accumulation=n), init_state(game, jax.random.key(0)), x,
                       (True, True))[0] for n in (1, 2, 4)]
  for state in states[1:]:
    np.testing.assert_allclose(state.params['w']['kernel'], states[0].params['w']['kernel'], rtol=1e-6)


def test_accumulation_normalises_each_micro_batch_and_updates_running_stats_in_order():
  x = jnp.array([1.0, 2.0, 5.0, 7.0])
  batch = {'x': x[None, :, None]}
  game = _batchnorm_game(accumulation=2)
  state = init_state(game, jax.random.key(0))
  new_state, _ = train_step(game, state, batch, (True,))
  # Micro-batches take rows 0, 2 and rows 1, 3; each updates the running mean with PyTorch's momentum 0.1.
  w = float(state.params['w']['layers_0']['kernel'][0, 0])
  first, second = w * (1.0 + 5.0) / 2, w * (2.0 + 7.0) / 2
  expected_mean = 0.9 * (0.9 * 0.0 + 0.1 * first) + 0.1 * second
  np.testing.assert_allclose(new_state.collections['w']['batch_stats']['layers_1']['mean'], [expected_mean],
                             rtol=1e-5)
  # And the gradient is the mean of the micro-batches' gradients, each with its own statistics.
  single = _batchnorm_game(accumulation=1)
  grads = []
  for rows in ([0, 2], [1, 3]):
    micro = {'x': x[jnp.array(rows)][None, :, None]}
    moved, _ = train_step(single, state, micro, (True,))
    grads.append(jax.tree.map(lambda a, b: (a - b) / 0.1, state.params['w'], moved.params['w']))
  expected = jax.tree.map(lambda p, a, b: p - 0.1 * (a + b) / 2, state.params['w'], *grads)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), new_state.params['w'], expected)


def test_dcgan_step_computes_the_generator_forward_pass_once():
  # The D and G phases draw the same latents, so XLA can compute G's forward pass once per iteration (PyTorch's
  # DCGAN reuses one fake batch the same way); it does only if both phases' G graphs simplify identically.
  config = base_config('dcgan', g_width=16, d_width=16)
  config.data.resolution, config.data.channels = 32, 1
  game = adversarial.build_game(config, (32, 32, 1))
  state = jax.eval_shape(functools.partial(init_state, game), jax.random.key(0))
  batch = {'image': jax.ShapeDtypeStruct((1, 64, 32, 32, 1), jnp.float32),
           'label': jax.ShapeDtypeStruct((1, 64), jnp.int32)}

  def flops(function, *args):
    return jax.jit(function).lower(*args).compile().cost_analysis()['flops']

  step_flops = {active: flops(lambda s, b, a=active: train_step(game, s, b, a), state, batch)
                for active in [(True, True), (True, False), (False, True)]}
  generator = game.modules['g']
  forward = flops(lambda p, c, z: generator.apply({'params': p, **c}, z, None, train=True, mutable=['batch_stats']),
                  state.params['g'], state.collections['g'], jax.ShapeDtypeStruct((64, 100), jnp.float32))
  separate = step_flops[(True, False)] + step_flops[(False, True)]
  np.testing.assert_allclose(step_flops[(True, True)], separate - forward, rtol=0.02)
