"""What a config costs, before launching it: python -m jgan.plan --config=configs/biggan_imagenet128.py

Builds the config's game, initialises its training state abstractly (jax.eval_shape: nothing is allocated),
compiles the train step for the configured global batch over this machine's devices without running it, and
prints the parameters of each player, the size of the state, the FLOPs of one iteration (XLA's cost analysis,
of a compilation for the CPU where the devices are GPUs: engine.cpu_flops) and the bytes per device (XLA's memory
analysis). Overrides work as in train.py (--config.train.batch_size=...); --nocompile stops after the parameter
count. A growing game (ProGAN) is planned at its last stage, its largest resolution.
"""
from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import ml_collections
from absl import flags
from ml_collections import config_flags

from jgan import config as config_lib
from jgan import games, sharding
from jgan.engine import Game, abstract_state, compiled_flops, cpu_flops, jit_steps, train_step
from jgan.errors import JganError, run_program


@dataclasses.dataclass
class Plan:
  parameters: dict[str, int]  # per player
  state_bytes: int  # the whole train state: parameters, optimiser states, EMA copies, collections
  batch_size: int
  resolution: int
  flops: float | None = None  # one iteration, every phase active; None without compiling
  memory: dict[str, int] | None = None  # per device: arguments, outputs, temporaries, aliased, peak


def abstract_batch(config: ml_collections.ConfigDict, game: Game, batch_size: int, resolution: int) -> dict:
  """The shapes and dtypes of one iteration's batch, as the input pipeline would deliver it."""
  lead = (game.sub_batches, batch_size)
  image = jax.ShapeDtypeStruct((*lead, resolution, resolution, config.data.channels), jnp.float32)
  if game.unpaired:
    return {'a': image, 'b': image}
  if game.translations:
    return {'input': jax.ShapeDtypeStruct((*lead, *game.input_shape), jnp.float32), 'target': image}
  return {'image': image, 'label': jax.ShapeDtypeStruct(lead, jnp.int32)}


def _bytes(tree) -> int:
  return sum(math.prod(x.shape) * jnp.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree))


def make_plan(config: ml_collections.ConfigDict, compile_step: bool = True, mesh: jax.sharding.Mesh | None = None
              ) -> Plan:
  """The plan of `config` over `mesh` (all devices by default).

  Raises:
    JganError: a config that does not validate or build.
  """
  config_lib.validate(config)
  game = games.build_game(config)
  mesh = mesh or sharding.make_mesh()
  state = abstract_state(game, mesh)
  parameters = {name: sum(math.prod(x.shape) for x in jax.tree.leaves(p)) for name, p in state.params.items()}
  stage = game.stages[-1] if game.stages else None
  batch_size = stage.batch_size if stage else config.train.batch_size
  resolution = stage.resolution if stage else config.data.resolution
  plan = Plan(parameters, _bytes((state.params, state.opt_state, state.ema_params, state.collections)), batch_size,
              resolution)
  if not compile_step:
    return plan
  batch = abstract_batch(config, game, batch_size, resolution)
  phases = tuple(True for _ in game.phases)
  compiled = jit_steps(game, mesh).one.lower(state, batch, phases).compile()
  on_gpus = any(device.platform == 'gpu' for device in mesh.devices.flat)
  plan.flops = (cpu_flops(lambda state, batch: train_step(game, state, batch, phases), state, batch)
                if on_gpus else compiled_flops(compiled))  # engine.cpu_flops: why the CPU on GPUs
  stats = compiled.memory_analysis()
  if stats is not None:
    plan.memory = {'arguments': stats.argument_size_in_bytes, 'outputs': stats.output_size_in_bytes,
                   'temporaries': stats.temp_size_in_bytes, 'aliased': stats.alias_size_in_bytes}
    # Donated arguments are reused for the outputs that alias them.
    plan.memory['peak'] = (stats.argument_size_in_bytes + stats.output_size_in_bytes - stats.alias_size_in_bytes
                           + stats.temp_size_in_bytes)
  return plan


def _gib(n: int) -> str:
  return f'{n / 2**30:.2f} GiB'


def report(plan: Plan, config: ml_collections.ConfigDict) -> str:
  devices = jax.devices()
  lines = [f'model {config.model.name}: {len(devices)} {devices[0].platform} device(s), global batch '
           f'{plan.batch_size} at {plan.resolution}x{plan.resolution}'
           + (f' ({config.train.grad_accumulation} micro-batches)' if config.train.grad_accumulation > 1 else ''),
           'parameters: ' + ', '.join(f'{name} {count:,}' for name, count in plan.parameters.items())
           + f'; total {sum(plan.parameters.values()):,}',
           f'train state (parameters, optimiser states, EMA, collections): {_gib(plan.state_bytes)}, replicated on '
           f'every device']
  if plan.flops is not None:
    lines.append(f'one iteration, every phase: {plan.flops / 1e9:,.1f} GFLOP (XLA cost analysis, whole step)')
  if plan.memory is not None:
    m = plan.memory
    lines.append(f"per device: arguments {_gib(m['arguments'])}, outputs {_gib(m['outputs'])} "
                 f"({_gib(m['aliased'])} in donated buffers), temporaries {_gib(m['temporaries'])}; "
                 f"peak about {_gib(m['peak'])}")
  return '\n'.join(lines)


def main() -> None:
  config = _CONFIG.value
  if config is None:
    raise JganError('pass --config=configs/NAME.py')
  config = ml_collections.ConfigDict(config.to_dict())  # unlocked, as train.run receives it
  print(report(make_plan(config, flags.FLAGS.compile), config))


if __name__ == '__main__':
  _CONFIG = config_flags.DEFINE_config_file('config', None, 'Training config file, e.g. configs/biggan_imagenet128.py.')
  flags.DEFINE_bool('compile', True, 'Compile the step for its FLOPs and memory (--nocompile: parameters only).')
  run_program(main)
