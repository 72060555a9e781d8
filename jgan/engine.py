"""The one train step every GAN family shares, configured by a `Game` rather than copied per model.

A game names its players (networks with their optimisers) and the phases of one training iteration.
Each phase minimises one loss with respect to some players' parameters and may:
  - repeat (WGAN's n_critic, the 2014 paper's k): a fresh sub-batch of data each time;
  - run only every k iterations (StyleGAN2's lazy regularisers), or only within a range of iterations
    (SRGAN's MSE pre-training): the step is compiled once per pattern of active phases, so an inactive
    phase costs nothing;
  - constrain the updated parameters (WGAN's weight clipping).
A loss sees every player's parameters and mutable collections (BatchNorm statistics, spectral-norm
vectors) and returns the collections it updated, so two G/D pairs (CycleGAN) or a growing network
(ProGAN: the level read from the shape of the batch's images, alpha from the step) need no new step. All
training state is one pytree, `TrainState`; `jit_steps` jits the step once, with the mesh's shardings, for
the training loop and jgan.plan alike.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jgan import sharding
from jgan.schedule import Stage

PyTree = Any
# The metric of a call that says whether its losses and updated parameters are all finite: -1 if they are, else the
# index of the call's first iteration that made a NaN or an infinity. The loop reads it before it saves or
# evaluates anything (jgan.train).
NONFINITE = 'nonfinite_at'
# loss(params, collections, sub_batch, rng, step) -> (scalar, (updated collections, metrics)); rng is the
# sub-batch's key, the same in every phase: a loss derives keys for its own purposes from it.
LossFn = Callable[[dict, dict, dict, jax.Array, jax.Array], tuple[jax.Array, tuple[dict, dict]]]


@dataclasses.dataclass(frozen=True)
class Phase:
  name: str
  players: tuple[str, ...]
  loss: LossFn
  repeats: int = 1
  every: int = 1
  constrain: Callable[[dict], dict] | None = None
  start: int = 0  # the first iteration the phase runs in
  stop: int | None = None  # the iteration it stops before; None: never

  def active(self, step: int) -> bool:
    return self.start <= step and (self.stop is None or step < self.stop) and step % self.every == 0


@dataclasses.dataclass(frozen=True)
class Game:
  """Everything the engine needs to know about one family of GANs."""

  modules: dict[str, nn.Module]
  optimizers: dict[str, optax.GradientTransformation]
  phases: tuple[Phase, ...]
  # init(rng) -> {player: Flax variables}
  init: Callable[[jax.Array], dict[str, PyTree]]
  # sample_inputs(rng, n, labels=None, truncate=None) -> the inputs of `sample` for n images: latents and,
  # for conditional games, `labels` (random classes when None); truncate = (threshold, form), jgan.truncation
  sample_inputs: Callable[..., dict]
  # sample(params, collections, inputs) -> images in [-1, 1]; given the EMA parameters where there are some
  sample: Callable[[dict, dict, dict], jax.Array]
  ema_players: tuple[str, ...] = ()
  ema_decay: float = 0.0
  ema_start: int = 0
  num_classes: int = 0  # > 0: sample_inputs takes class labels
  accumulation: int = 1  # micro-batches per update, their gradients averaged (see _gradients)
  # Image-to-image games: direction ('AtoB', 'BtoA') -> the generator player that translates that way;
  # their batches hold images, not latents (jgan.data.pairs), and jgan.translate samples them.
  translations: dict[str, str] = dataclasses.field(default_factory=dict)
  unpaired: bool = False  # batches are {'a', 'b'} from two domains rather than {'input', 'target'} pairs
  input_shape: tuple[int, int, int] | None = None  # image-to-image games: the [H, W, C] of G's input images
  stages: tuple[Stage, ...] = ()  # growing games (jgan.games.growing): the data shape changes at these iterations

  @property
  def sub_batches(self) -> int:
    """How many sub-batches of data one iteration consumes: the most repeats of any phase."""
    return max(phase.repeats for phase in self.phases)

  def active_phases(self, step: int) -> tuple[bool, ...]:
    return tuple(phase.active(step) for phase in self.phases)


def generator_ema(decay: float, start: int) -> dict:
  """Game's EMA fields for an average of the generator player 'g' from iteration `start` (none if decay is 0)."""
  return {'ema_players': ('g',) if decay > 0 else (), 'ema_decay': decay, 'ema_start': start}


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  rng: jax.Array
  params: dict
  collections: dict
  opt_state: dict
  ema_params: dict

  def sampling_params(self) -> dict:
    """Parameters to sample with: the EMA copies where the game keeps them."""
    return {**self.params, **self.ema_params}


def init_state(game: Game, rng: jax.Array) -> TrainState:
  """Initialises every player; jit it with `out_shardings` to place the state on a mesh."""
  init_rng, train_rng = jax.random.split(rng)
  variables = game.init(init_rng)
  params = {name: v['params'] for name, v in variables.items()}
  collections = {name: {k: c for k, c in v.items() if k != 'params'} for name, v in variables.items()}
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      rng=train_rng,
      params=params,
      collections=collections,
      opt_state={name: game.optimizers[name].init(p) for name, p in params.items()},
      ema_params={name: params[name] for name in game.ema_players},
  )


def initial_state(game: Game, seed: int, mesh: jax.sharding.Mesh) -> TrainState:
  """A freshly initialised state from `seed`, replicated over `mesh`."""
  init = jax.jit(functools.partial(init_state, game), out_shardings=sharding.replicated(mesh))
  return init(jax.random.key(seed))


def abstract_state(game: Game, mesh: jax.sharding.Mesh) -> TrainState:
  """The shapes, dtypes and shardings of `initial_state`, found without initialising anything: what a
  checkpoint restores onto, and what jgan.plan compiles for."""
  shapes = jax.eval_shape(functools.partial(init_state, game), jax.random.key(0))
  replicated = sharding.replicated(mesh)
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated), shapes)


def _gradients(game: Game, phase: Phase, step: jax.Array, params: dict, collections: dict, sub_batch: dict,
               rng: jax.Array):
  """(loss, updated collections, metrics, gradients) of the phase's loss, over `game.accumulation`
  micro-batches when it is above 1.

  Accumulation (BigGAN-PyTorch's num_D_accumulations) averages the micro-batches' gradients, which for a
  loss that is a mean over independent examples is the gradient on the whole batch. BatchNorm normalises
  each micro-batch with that micro-batch's statistics (over every device: a global micro-batch), exactly
  as a run without accumulation at the micro-batch size would, and the running statistics are updated
  once per micro-batch, in order. Micro-batch i takes rows i, i + n, i + 2n, ...: every device holds an
  equal share of each, so no data moves between devices.
  """
  def loss_of(trainable, collections, batch, key):
    return phase.loss({**params, **trainable}, collections, batch, key, step)

  trainable = {name: params[name] for name in phase.players}
  value_and_grad = jax.value_and_grad(loss_of, has_aux=True)
  n = game.accumulation
  if n == 1:
    (loss, (new_collections, metrics)), grads = value_and_grad(trainable, collections, sub_batch, rng)
    return loss, new_collections, metrics, grads

  micro_batches = jax.tree.map(lambda x: jnp.swapaxes(x.reshape(x.shape[0] // n, n, *x.shape[1:]), 0, 1),
                               sub_batch)

  def accumulate(carry, inputs):
    grad_sum, current = carry
    micro_batch, index = inputs
    (loss, (updated, metrics)), grads = value_and_grad(trainable, current, micro_batch, jax.random.fold_in(rng, index))
    return (jax.tree.map(jnp.add, grad_sum, grads), {**current, **updated}), (loss, metrics)

  zeros = jax.tree.map(jnp.zeros_like, trainable)
  # A loop keeps one micro-batch's activations alive at a time, which is the point of accumulating; on
  # XLA's CPU backend, which runs convolutions inside a while loop many times slower, it is unrolled instead.
  unroll = n if jax.default_backend() == 'cpu' else 1
  (grad_sum, final_collections), (losses, metrics) = jax.lax.scan(accumulate, (zeros, collections),
                                                                  (micro_batches, jnp.arange(n)), unroll=unroll)
  grads = jax.tree.map(lambda g: g / n, grad_sum)
  return jnp.mean(losses), final_collections, jax.tree.map(jnp.mean, metrics), grads


def _update(game: Game, phase: Phase, step: jax.Array, carry, sub_batch: dict, rng: jax.Array):
  """One optimiser update of the phase's players on one sub-batch; carry is (params, collections, opt_state)."""
  params, collections, opt_state = carry
  loss, new_collections, metrics, grads = _gradients(game, phase, step, params, collections, sub_batch, rng)
  params, opt_state = dict(params), dict(opt_state)
  for name in phase.players:
    updates, opt_state[name] = game.optimizers[name].update(grads[name], opt_state[name], params[name])
    params[name] = optax.apply_updates(params[name], updates)
    metrics[f'{name}_grad_norm'] = optax.tree.norm(grads[name])
  if phase.constrain is not None:
    params.update(phase.constrain({name: params[name] for name in phase.players}))
  metrics = {f'{phase.name}/{k}': v for k, v in {'loss': loss, **metrics}.items()}
  return (params, {**collections, **new_collections}, opt_state), metrics


def train_step(game: Game, state: TrainState, batch: dict, active: tuple[bool | jax.Array, ...]
               ) -> tuple[TrainState, dict]:
  """One iteration: each active phase in order, then the EMA. Pure; jit with `active` static.

  Args:
    game: the family's players and phases.
    state: the full training state.
    batch: arrays with a leading axis of `game.sub_batches`; repeat i of a phase sees sub-batch i.
    active: per phase, whether it runs this iteration (`game.active_phases(step)`): a Python bool, or a traced
      boolean (`train_steps`), which runs the phase under lax.cond and gives zeros for its metrics when it is off.
  Returns:
    The new state and a dict of scalar metrics (averaged over a phase's repeats), with NONFINITE: -1 when the
    losses, parameters and collections are all finite, 0 when not.
  """
  # One key per sub-batch, the same in every phase: phases that see a sub-batch also see its latents, as
  # DCGAN's reference code reuses one fake batch for the D and the G update. Then XLA computes the shared
  # generator forward pass once, provided both phases' graphs of it simplify alike: the other half of this
  # contract is jgan.nn.layers.BatchNorm's vector statistics, and
  # tests/test_engine.py::test_dcgan_step_computes_the_generator_forward_pass_once checks it by FLOP count.
  sub_batch_rngs = jax.random.split(jax.random.fold_in(state.rng, state.step), game.sub_batches)
  carry = (state.params, state.collections, state.opt_state)
  metrics = {}
  for index, phase in enumerate(game.phases):
    traced = isinstance(active[index], jax.Array)
    if not traced and not active[index]:
      continue

    def run_phase(carry, phase=phase):
      # Unrolled rather than lax.scan: XLA's CPU backend runs convolutions inside a while loop many times
      # slower (benchmarks/README.md, change 2), and repeats are few (n_critic <= 5).
      phase_metrics = []
      for repeat in range(phase.repeats):
        sub_batch = jax.tree.map(lambda x, r=repeat: x[r], batch)
        carry, repeat_metrics = _update(game, phase, state.step, carry, sub_batch, sub_batch_rngs[repeat])
        phase_metrics.append(repeat_metrics)
      return carry, jax.tree.map(lambda *m: jnp.mean(jnp.stack(m)), *phase_metrics)

    if not traced:
      carry, phase_metrics = run_phase(carry)
    else:
      zeros = jax.tree.map(lambda m: jnp.zeros(m.shape, m.dtype), jax.eval_shape(run_phase, carry)[1])
      carry, phase_metrics = jax.lax.cond(active[index], run_phase, lambda carry, zeros=zeros: (carry, zeros), carry)
    metrics.update(phase_metrics)
  params, collections, opt_state = carry
  # Exponential moving average of weights (Karras et al. 2018; Yazici et al. 2019): a plain copy before
  # ema_start, then a decay warmed up as tf.train.ExponentialMovingAverage's num_updates does,
  # min(decay, (1 + t) / (10 + t)), so that the average soon forgets the random initialisation
  # (a fixed 0.999 still gives it weight 0.45 after 800 steps).
  t = (state.step - game.ema_start).astype(jnp.float32)
  decay = jnp.where(t >= 0, jnp.minimum(game.ema_decay, (1.0 + t) / (10.0 + t)), 0.0)
  ema_params = {name: jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, state.ema_params[name], params[name])
                for name in game.ema_players}
  new_state = state.replace(step=state.step + 1, params=params, collections=collections,
                            opt_state=opt_state, ema_params=ema_params)
  metrics[NONFINITE] = jnp.where(_all_finite((metrics, params, collections)), -1, 0).astype(jnp.int32)
  return new_state, metrics


def _all_finite(tree) -> jax.Array:
  """Whether every floating-point number in `tree` is finite, as one boolean."""
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def train_steps(game: Game, state: TrainState, batches: tuple[dict, ...], actives: tuple[tuple[bool, ...], ...]
                ) -> tuple[TrainState, dict]:
  """len(batches) iterations in one call (lax.scan over `train_step`), for accelerators, where the host then
  dispatches once per several iterations. Pure; jit with `actives` static. Not for XLA's CPU backend, which
  runs convolutions inside a loop many times slower.

  Args:
    batches: one batch per iteration, as `train_step` takes it.
    actives: one `game.active_phases(step)` per iteration. A phase active in some iterations and not others
      runs under lax.cond; one active in none is left out.
  Returns:
    The state after the last iteration, and each phase's metrics from the last iteration it ran in, as a
    sequence of `train_step` calls would leave them; NONFINITE: -1, or the first iteration that was not finite.
  """
  modes = []  # per phase: True (active in every iteration), False (in none) or None (traced)
  for index in range(len(game.phases)):
    flags = [active[index] for active in actives]
    modes.append(True if all(flags) else None if any(flags) else False)

  def iterate(state, inputs):
    batch, flags = inputs
    return train_step(game, state, batch, tuple(flags[i] if mode is None else mode for i, mode in enumerate(modes)))

  stacked = jax.tree.map(lambda *x: jnp.stack(x), *batches)
  state, metrics = jax.lax.scan(iterate, state, (stacked, jnp.asarray(actives, bool)))
  bad = metrics.pop(NONFINITE) >= 0  # per iteration
  last_run = {phase.name: max((i for i, active in enumerate(actives) if active[index]), default=None)
              for index, phase in enumerate(game.phases)}
  last = {key: value[last_run[key.split('/')[0]]] for key, value in metrics.items()}
  return state, {**last, NONFINITE: jnp.where(jnp.any(bad), jnp.argmax(bad), -1).astype(jnp.int32)}


@dataclasses.dataclass(frozen=True)
class JittedSteps:
  """`train_step` and `train_steps` of one game, jitted once with the mesh's shardings: the state replicated
  and donated, the batches split over the mesh's 'data' axis. Each compiles once per pattern of active phases
  and per batch shape (a growing game's stage)."""

  one: Callable  # (state, batch, active) -> (state, metrics)
  many: Callable  # (state, batches, actives) -> (state, metrics)

  def __call__(self, state: TrainState, batches: list[dict], actives: list[tuple[bool, ...]]
               ) -> tuple[TrainState, dict]:
    """len(batches) iterations: one call of `one` for a single batch, else one call of `many`."""
    if len(batches) == 1:
      return self.one(state, batches[0], actives[0])
    return self.many(state, tuple(batches), tuple(actives))


def jit_steps(game: Game, mesh: jax.sharding.Mesh) -> JittedSteps:
  """The jitted steps of `game` on `mesh`: the one place that gives the train step its shardings."""
  replicated = sharding.replicated(mesh)
  in_shardings, out_shardings = (replicated, sharding.batch_sharding(mesh)), (replicated, replicated)
  jit = lambda step: jax.jit(functools.partial(step, game), static_argnums=2, donate_argnums=0,
                             in_shardings=in_shardings, out_shardings=out_shardings)
  return JittedSteps(jit(train_step), jit(train_steps))


def compiled_flops(compiled: jax.stages.Compiled) -> float | None:
  """XLA's cost analysis of a compiled function: its FLOPs, or None where the backend gives none."""
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  return float(cost['flops']) if cost and 'flops' in cost else None


def cpu_flops(fn: Callable, *args) -> float | None:
  """The FLOPs of fn(*args) (arrays or abstract ones, on any device) as XLA counts them compiled for one CPU
  device. A GPU compilation hands convolutions to cuDNN as custom calls, which XLA's cost analysis does not
  count; the CPU backend keeps them as HLO convolutions (benchmarks/README.md, the H100 section)."""
  cpu = jax.sharding.SingleDeviceSharding(jax.devices('cpu')[0])
  shapes = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), args)
  return compiled_flops(jax.jit(fn, in_shardings=cpu, out_shardings=cpu).lower(*shapes).compile())
