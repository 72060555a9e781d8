"""Faults a run must survive, each injected on a tiny DCGAN: bad settings, a step that diverges, a full disk, a
second run on the same workdir, damaged, truncated, half-written and empty checkpoints. Each ends in one line
(or a warning and a resumed run) with every earlier good checkpoint still restoring to the same numbers."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from jgan import games, sharding, train
from jgan.checkpoint import BestCheckpoint, Checkpointer, _mount_point
from jgan.config import validate
from jgan.engine import NONFINITE, abstract_state, initial_state
from jgan.errors import JganError
from tests.small import ROOT, config_file, metrics_by_step


def _restored(config, workdir, step) -> list[np.ndarray]:
  """Every array of checkpoint `step`, on the host."""
  checkpointer = Checkpointer(str(workdir), keep=3)
  try:
    state, _ = checkpointer.restore(step, abstract_state(games.build_game(config), sharding.make_mesh()))
  finally:
    checkpointer.close()
  return [np.asarray(jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x)
          for x in jax.tree.leaves(state)]


def _assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
  assert len(a) == len(b)
  for x, y in zip(a, b, strict=True):
    np.testing.assert_array_equal(x, y)


@pytest.fixture
def trained(tiny_config, tmp_path):
  """A run of 4 steps with checkpoints 2 and 4, and their arrays."""
  train.run(tiny_config, str(tmp_path))
  return tiny_config, tmp_path, {step: _restored(tiny_config, tmp_path, step) for step in (2, 4)}


@pytest.mark.parametrize('key, value, words', [
    ('train.log_every', 0, 'a whole number >= 1'),
    ('train.checkpoint_every', -1, 'a whole number of steps >= 0 (0: only at the end of the run)'),
    ('train.checkpoint_minutes', -1.0, 'a number of minutes >= 0 (0: off)'),
    ('train.on_nonfinite', 'ignore', "'stop' or 'rewind'"),
    ('optim.d.lr', 0.0, 'a number > 0'),
    ('optim.g.lr', -1e-4, 'a number > 0'),
    ('optim.g.b1', 1.0, 'a number in [0, 1)'),
    ('optim.d.decay_fraction', 1.5, 'a number in [0, 1]'),
    ('gan.ema_decay', 1.0, 'a number in [0, 1)'),
    ('gan.gp_weight', -10.0, 'a number >= 0 (0: off)'),
    ('gan.n_critic', 0, 'a whole number >= 1'),
    ('data.channels', 2, '1 (grey) or 3 (RGB)'),
])
def test_a_setting_out_of_its_range_is_named_with_the_range(tiny_config, key, value, words):
  section, name = key.rsplit('.', 1)
  target = tiny_config
  for part in section.split('.'):
    target = target[part]
  target[name] = value
  with pytest.raises(JganError) as error:
    validate(tiny_config)
  assert str(error.value) == (f'config key {key!r} is {value!r}; it must be {words}: fix the config file or the '
                              f'--config override')


def test_an_interval_of_zero_means_only_at_the_end(tiny_config, tmp_path):
  tiny_config.train.update(steps=5, sample_every=0, checkpoint_every=0)
  train.run(tiny_config, str(tmp_path))
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['5']
  assert os.listdir(tmp_path / 'samples') == ['step_0000005.png']


def test_a_diverging_step_is_never_saved_and_stops_the_run_in_one_line(trained):
  config, workdir, arrays = trained
  config.optim.g.lr = config.optim.d.lr = 1e30
  config.train.update(steps=8, checkpoint_every=1)
  with pytest.raises(JganError) as error:
    train.run(config, str(workdir))
  assert re.fullmatch(r"step 5 made \S+ \(nan\) not finite: the run stopped without saving or evaluating it; "
                      r"checkpoints 2, 4 in \S+ are intact: .*train.on_nonfinite='rewind'.*", str(error.value))
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['2', '4']
  for step in (2, 4):
    _assert_same(_restored(config, workdir, step), arrays[step])


def test_rewinds_that_do_not_help_stop_the_run_after_max_rewinds(trained, capsys):
  config, workdir, arrays = trained
  config.optim.g.lr = config.optim.d.lr = 1e30
  config.train.update(steps=8, on_nonfinite='rewind', max_rewinds=2)
  with pytest.raises(JganError, match=r'step 5 made \S+ \(nan\) not finite: .* checkpoints 2, 4 in \S+ are intact: .* '
                                      r'\(after 2 rewinds, train.max_rewinds\)'):
    train.run(config, str(workdir))
  assert capsys.readouterr().out.count('rewound to step 4') == 2
  _assert_same(_restored(config, workdir, 4), arrays[4])


@pytest.mark.slow
def test_time_based_checkpoints_save_at_log_lines_without_evaluating(tiny_config, tmp_path):
  tiny_config.train.update(steps=6, log_every=2, checkpoint_every=0, checkpoint_minutes=1e-9)
  tiny_config.eval.num_samples = 50
  train.run(tiny_config, str(tmp_path))
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['2', '4', '6']
  assert [step for step, row in metrics_by_step(tmp_path).items() if 'eval/digits_fd' in row] == [0, 6]


def test_a_rewind_skips_the_bad_batches_and_resumes_exactly(tiny_config, tmp_path, monkeypatch, capsys):
  # The update from step 4 to 5 is made to look non-finite once: the run goes back to checkpoint 4 and trains on
  # past that batch; a run stopped after that and resumed reads the same batches.
  tiny_config.train.update(steps=8, checkpoint_every=2, on_nonfinite='rewind')
  jit_steps, injected = train.jit_steps, []

  def faulty(game, mesh):
    steps = jit_steps(game, mesh)

    def call(state, batches, actives):
      start = int(state.step)
      state, metrics = steps(state, batches, actives)
      if start == 4 and not injected:
        injected.append(start)
        metrics = {**metrics, NONFINITE: jax.numpy.int32(0)}
      return state, metrics
    return call

  monkeypatch.setattr(train, 'jit_steps', faulty)
  train.run(tiny_config, str(tmp_path / 'straight'))
  assert 'step 5 made the parameters or statistics not finite: rewound to step 4, skipping 1 batch' in \
      capsys.readouterr().out
  interrupted = tiny_config.copy_and_resolve_references()
  interrupted.train.steps = 6
  injected.clear()
  train.run(interrupted, str(tmp_path / 'resumed'))
  monkeypatch.setattr(train, 'jit_steps', jit_steps)
  train.run(tiny_config, str(tmp_path / 'resumed'))
  straight, resumed = metrics_by_step(tmp_path / 'straight'), metrics_by_step(tmp_path / 'resumed')
  assert straight[8] == resumed[8] and straight[7] == resumed[7]


def test_best_keeps_only_finite_values_that_beat_the_untrained_generator(tiny_config, tmp_path):
  state = initial_state(games.build_game(tiny_config), 0, sharding.make_mesh())
  best = BestCheckpoint(str(tmp_path), 'fd')
  try:
    best.baseline({'fd': 1000.0})
    assert not best.update(2, state, {}, {'fd': 1500.0})  # collapsed: worse than untrained
    assert not best.update(4, state, {}, {'fd': float('nan')})
    assert best.update(6, state, {}, {'fd': 900.0}) and not best.update(8, state, {}, {'fd': 950.0})
  finally:
    best.close()
  assert sorted(name for name in os.listdir(tmp_path / 'best') if name.isdigit()) == ['6']
  assert json.loads((tmp_path / 'best' / 'best.json').read_text()) == {'step': 6, 'metric': 'fd', 'value': 900.0}


def test_too_little_space_stops_before_the_save(trained, monkeypatch):
  config, workdir, arrays = trained
  config.train.steps = 6
  real = shutil.disk_usage
  monkeypatch.setattr(shutil, 'disk_usage', lambda path: real(path)._replace(free=1000))
  with pytest.raises(JganError, match=r'cannot save step 6: about [\d.]+ MiB needed, 0\.0 MiB free \(\S+\); '
                                      r'checkpoints 2, 4 in \S+ are intact: free space'):
    train.run(config, str(workdir))
  monkeypatch.setattr(shutil, 'disk_usage', real)
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['2', '4']
  _assert_same(_restored(config, workdir, 4), arrays[4])


def _faulty_bit(path: str) -> None:
  data = bytearray(open(path, 'rb').read())
  data[len(data) // 2] ^= 0x10
  open(path, 'wb').write(bytes(data))


def _largest_data_file(workdir, step) -> str:
  files = [os.path.join(root, name) for root, _, names in os.walk(workdir / 'checkpoints' / str(step) / 'state')
           for name in names if os.sep + 'd' + os.sep in os.path.join(root, name) + os.sep]
  return max(files, key=os.path.getsize)


@pytest.mark.parametrize('damage', ['bit flip', 'truncated array file', 'deleted metadata', 'empty step'])
def test_a_damaged_checkpoint_is_moved_aside_and_the_run_resumes_from_the_last_that_verifies(
    damage, trained, capsys):
  config, workdir, arrays = trained
  step_dir = workdir / 'checkpoints' / '4'
  if damage == 'bit flip':
    _faulty_bit(_largest_data_file(workdir, 4))
  elif damage == 'truncated array file':
    path = _largest_data_file(workdir, 4)
    os.truncate(path, os.path.getsize(path) // 2)
  elif damage == 'deleted metadata':
    os.remove(step_dir / 'state' / '_METADATA')
  else:
    shutil.rmtree(step_dir / 'state')
  config.train.steps = 6
  train.run(config, str(workdir))
  printed = capsys.readouterr().out
  assert re.search(r'warning: checkpoint 4 in \S+ is damaged \(.+\); moved to \S+4\.damaged, resuming from '
                   r'checkpoint 2', printed), printed
  assert 'resumed from' in printed and os.path.isdir(workdir / 'checkpoints' / '4.damaged')
  _assert_same(_restored(config, workdir, 2), arrays[2])
  _assert_same(_restored(config, workdir, 4), arrays[4])  # retrained from checkpoint 2: the same numbers


def test_a_leftover_partial_checkpoint_is_ignored(trained):
  config, workdir, arrays = trained
  shutil.copytree(workdir / 'checkpoints' / '4', workdir / 'checkpoints' / '6.orbax-checkpoint-tmp-1234')
  config.train.steps = 6
  train.run(config, str(workdir))
  assert '6' in os.listdir(workdir / 'checkpoints')
  _assert_same(_restored(config, workdir, 4), arrays[4])


def _cli(workdir, data_dir, *args):
  return [sys.executable, os.path.join(ROOT, 'train.py'), f'--config={config_file("dcgan_digits")}',
          '--config.model.g_width=4', '--config.model.d_width=4', '--config.data.resolution=16',
          f'--config.data.data_dir={data_dir}', '--config.eval.num_samples=0', '--config.train.checkpoint_every=2',
          f'--workdir={workdir}', *args]


def _error_lines(stderr: str) -> list[str]:
  return [line for line in stderr.splitlines() if not re.match(r'[WI]\d{4} \d\d:\d\d:\d\d|(WARNING|INFO):', line)]


@pytest.mark.slow
def test_a_full_disk_stops_the_save_in_one_line(tmp_path, data_dir):
  workdir = tmp_path / 'run'
  assert subprocess.run(_cli(workdir, data_dir, '--config.train.steps=2'), capture_output=True).returncode == 0

  # A file-size limit, with SIGXFSZ ignored, makes the checkpoint's array file fail to write as a full disk would
  # (both survive the exec into train.py).
  limited = [sys.executable, '-c', 'import os, resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); '
             'resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000)); os.execv(sys.argv[1], sys.argv[1:])']
  result = subprocess.run([*limited, *_cli(workdir, data_dir, '--config.train.steps=4')], capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 2 and _error_lines(result.stderr) == [
      f'error: cannot save step 4: file too large ({_mount_point(workdir)}); checkpoints 2 in {workdir}/checkpoints '
      f'are intact: free space, or resume in another --workdir'], result.stderr[-2000:]
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['2']  # the partial step 4 removed


@pytest.mark.slow
def test_a_second_run_on_the_workdir_is_refused_in_one_line(tmp_path, data_dir):
  workdir = tmp_path / 'run'
  first = subprocess.Popen(_cli(workdir, data_dir, '--config.train.steps=100000', '--config.train.log_every=1'),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  try:
    for line in first.stdout:
      if line.startswith('step') and '/100000' in line:
        break
    second = subprocess.run(_cli(workdir, data_dir, '--config.train.steps=4'), capture_output=True, text=True,
                            timeout=300)
    assert second.returncode == 2
    assert len(_error_lines(second.stderr)) == 1 and re.fullmatch(
        rf'error: --workdir={workdir} is in use by process {first.pid} on \S+ \(training since [\d:]+\): wait for '
        r'that run to end or stop it, or use another --workdir', _error_lines(second.stderr)[0]), second.stderr
  finally:
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=120)
  assert first.returncode == 0
