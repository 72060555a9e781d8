"""Train a GAN: python train.py --config=configs/dcgan_digits.py --workdir=runs/dcgan_digits

Overrides: --config.train.steps=500 --config.optim.d.lr=1e-4 ... Running the same command again on the
same --workdir resumes from its latest checkpoint. Ctrl-C or SIGTERM saves a checkpoint and exits.
"""
import re
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from jgan.errors import exit_on_error, fail
from jgan.host_memory import retain_freed_memory, run_with_huge_pages

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Training config file, e.g. configs/dcgan_digits.py.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory for checkpoints, samples and metrics.')
# Several processes (hosts) train as one through jax.distributed, one process per host, the same command on each.
_DISTRIBUTED = flags.DEFINE_bool('distributed', False, 'Join the cluster that jax.distributed.initialize() finds '
                                 'by itself: Cloud TPU pod slices, SLURM, Open MPI.')
_COORDINATOR = flags.DEFINE_string('coordinator_address', None, 'host:port of process 0, for a cluster that JAX '
                                   'does not detect (with --num_processes and --process_id).')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'With --coordinator_address: how many processes.')
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'With --coordinator_address: this process, 0..N-1.')
_RETAIN_HOST_MEMORY = flags.DEFINE_bool('retain_host_memory', False, 'CPU training of large models: keep freed '
                                        'memory in the process (jgan.host_memory); slower for small ones.')


def _other_game_key(override: str, argv: list[str]) -> str | None:
  """For an override --config.SECTION.KEY=... that the config lacks: the one-line error naming the game in play,
  where KEY belongs to another game's section ('gan.loss' given to StyleGAN2); else None."""
  key = override.split('=', 1)[0].removeprefix('--config.')
  paths = [a.split('=', 1)[1] for a in argv if a.startswith('--config=')]
  if not paths:
    return None
  from jgan import config as config_lib  # Only on this error path, so that --help stays fast.

  try:
    config = config_lib.load_file(paths[-1])
    error = config_lib.unknown_key_error(key, config)
  except Exception:  # the file itself is broken: config_flags' own message says so
    return None
  return str(error) if 'is not read by model' in str(error) else None


def _config_error(error: Exception, argv: list[str]) -> str:
  """One line for what config_flags raised (with a traceback inside its message)."""
  text = str(error)
  raised = re.findall(r'JganError: (.*)', text)
  if raised:
    return raised[-1]
  suggestion = re.search(r'Did you mean "(\w+)" instead of "(\w+)"', text)
  missing = re.fullmatch(r'"?\'(\w+)\'"?', text.strip())  # how config_flags words a key with no near match
  unknown = suggestion[2] if suggestion else missing[1] if missing else None
  if unknown:
    wrong = [a for a in argv if re.search(rf'\.{unknown}=', a)]
    other_game = _other_game_key(wrong[0], argv) if wrong else None
    if other_game:
      return other_game
    where = f' in {wrong[0]}' if wrong else ''
    fix = f'did you mean {suggestion[1]!r}?' if suggestion else 'check its spelling against the config file'
    return f'unknown config key {unknown!r}{where}: {fix}'
  lines = [line.strip() for line in text.splitlines() if line.strip()]
  return f'{lines[-1] if lines else type(error).__name__} (while reading {" ".join(argv[1:])})'


def _parse_flags(argv: list[str]) -> list[str]:
  """absl's parser, with config-file and override errors as one line instead of a traceback."""
  try:
    remaining = flags.FLAGS(argv)
    if flags.FLAGS['config'].present:
      _CONFIG.value.to_dict()  # config_flags defers file errors until the config is first used.
    return remaining
  except flags.UnrecognizedFlagError as error:
    if error.flagname.startswith('config.'):
      fail(_other_game_key(f'--{error.flagname}', argv) or f"unknown config key "
           f"{error.flagname[len('config.'):]!r} in --{error.flagname}: check its spelling against the config file")
    fail(f'unknown flag --{error.flagname}: see python train.py --help')
  except Exception as error:  # config_flags raises OSError, IllegalFlagValueError, AttributeError, ...
    fail(_config_error(error, argv))


def _initialize_processes() -> None:
  """jax.distributed.initialize, before anything asks JAX for its devices, when the flags ask for it."""
  if _COORDINATOR.value:
    if _NUM_PROCESSES.value is None or _PROCESS_ID.value is None:
      fail('--coordinator_address needs --num_processes=N and --process_id=I (0..N-1) on every process')
    import jax

    jax.distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  elif _DISTRIBUTED.value:
    import jax

    jax.distributed.initialize()


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    fail(f'unexpected arguments {" ".join(argv[1:])}: flags are written --name=value')
  if _CONFIG.value is None or not _WORKDIR.value:
    fail('pass --config=configs/NAME.py and --workdir=DIR, e.g. '
         'python train.py --config=configs/dcgan_digits.py --workdir=runs/dcgan_digits')
  logging.set_verbosity(logging.WARNING)  # Orbax and TFDS log every save and read at INFO.
  if _RETAIN_HOST_MEMORY.value and not retain_freed_memory():  # before JAX's threads start
    print('warning: --retain_host_memory needs Linux with glibc; ignored', file=sys.stderr)
  _initialize_processes()
  from jgan import train  # After flag parsing, so that --help stays fast.

  with exit_on_error():
    train.run(_CONFIG.value, _WORKDIR.value)


if __name__ == '__main__':
  run_with_huge_pages()  # re-executes once, before any thread starts: glibc reads its tunables at process start
  app.run(main, flags_parser=_parse_flags)
