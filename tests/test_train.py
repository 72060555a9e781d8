"""train.run and train.py end to end: artifacts, exact resume, clean stop on signals, one-line errors."""
import glob
import json
import logging
import os
import re
import signal
import subprocess
import sys

import chex
import numpy as np
import pytest
from PIL import Image

from jgan import engine, train
from jgan.errors import JganError
from jgan.games import growing
from tests.small import ROOT, config_file, metrics_by_step, tiny_progan


def test_a_run_writes_samples_metrics_events_and_checkpoints(tiny_config, tmp_path):
  train.run(tiny_config, str(tmp_path))
  assert sorted(os.listdir(tmp_path / 'samples')) == ['step_0000002.png', 'step_0000004.png']
  grid = np.asarray(Image.open(tmp_path / 'samples' / 'step_0000004.png'))
  assert grid.shape == (4 * (2 * (16 + 2) + 2),) * 2  # a 2x2 grid of 16x16 with 2-pixel gaps, shown 4x
  assert sorted(metrics_by_step(tmp_path)) == [1, 2, 3, 4]
  assert {'d/loss', 'g/loss', 'd/real_logit', 'd/fake_logit', 'g/g_grad_norm'} <= set(metrics_by_step(tmp_path)[4])
  assert any(name.startswith('events.out.tfevents') for name in os.listdir(tmp_path / 'tb'))
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['2', '4']
  assert json.loads((tmp_path / 'config.json').read_text())['model']['name'] == 'dcgan'


def test_resumed_run_equals_the_uninterrupted_run(tiny_config, tmp_path):
  tiny_config.gan.ema_decay = 0.9  # the EMA, the RNG, BatchNorm statistics and the data position resume too
  train.run(tiny_config, str(tmp_path / 'straight'))
  interrupted = tiny_config.copy_and_resolve_references()
  interrupted.train.steps = 2
  train.run(interrupted, str(tmp_path / 'resumed'))
  train.run(tiny_config, str(tmp_path / 'resumed'))
  straight, resumed = metrics_by_step(tmp_path / 'straight'), metrics_by_step(tmp_path / 'resumed')
  assert resumed[3] == straight[3] and resumed[4] == straight[4]
  for name in ('step_0000004.png',):
    a = np.asarray(Image.open(tmp_path / 'straight' / 'samples' / name))
    b = np.asarray(Image.open(tmp_path / 'resumed' / 'samples' / name))
    np.testing.assert_array_equal(a, b)


def test_several_iterations_per_call_train_as_one_per_call(tiny_config, tmp_path):
  tiny_config.train.update(steps=6, log_every=3, sample_every=6, checkpoint_every=6)
  train.run(tiny_config, str(tmp_path / 'one'))
  tiny_config.train.steps_per_call = 3  # two calls of three iterations
  train.run(tiny_config, str(tmp_path / 'three'))
  one, three = metrics_by_step(tmp_path / 'one'), metrics_by_step(tmp_path / 'three')
  assert sorted(one) == sorted(three) == [3, 6]
  for step in (3, 6):
    np.testing.assert_allclose([three[step][k] for k in sorted(one[step])], [one[step][k] for k in sorted(one[step])],
                               rtol=1e-4)


def test_checkpoints_that_are_all_corrupt_are_named_in_one_line(tiny_config, tmp_path):
  # (One damaged checkpoint among good ones is moved aside: tests/test_faults.py.)
  train.run(tiny_config, str(tmp_path))
  for directory, _, names in os.walk(tmp_path / 'checkpoints'):
    for name in names:
      with open(os.path.join(directory, name), 'wb') as f:
        f.write(b'garbage')
  tiny_config.train.steps = 6
  hooks = (sys.excepthook, sys.unraisablehook, list(logging.getLogger('asyncio').filters))
  with pytest.raises(JganError, match='checkpoint 4 .* is damaged .* no checkpoint in .* verifies') as error:
    train.run(tiny_config, str(tmp_path))
  assert '\n' not in str(error.value)
  assert (sys.excepthook, sys.unraisablehook, list(logging.getLogger('asyncio').filters)) == hooks


def test_a_checkpoint_of_another_model_is_refused(tiny_config, tmp_path):
  train.run(tiny_config, str(tmp_path))
  tiny_config.model.g_width = 8
  tiny_config.train.steps = 6
  # Named from the checkpoint's metadata before any array is read: the first array whose shape differs.
  with pytest.raises(JganError, match=r'another config \(\S+ is float32\[\d+(, \d+)*\] in the checkpoint, '
                                      r'float32\[\d+(, \d+)*\] configured\)'):
    train.run(tiny_config, str(tmp_path))


def _errors(stderr):
  """stderr's lines less absl's warning and info log lines ('W1124 06:12:16.669678 ...', 'WARNING:absl:...')."""
  return [line for line in stderr.splitlines() if not re.match(r'[WI]\d{4} \d\d:\d\d:\d\d|(WARNING|INFO):', line)]


def _cli(*args, data_dir):
  return [sys.executable, os.path.join(ROOT, 'train.py'), '--config=' + os.path.join(ROOT, 'configs',
                                                                                       'dcgan_digits.py'),
          '--config.model.g_width=4', '--config.model.d_width=4', '--config.data.resolution=16',
          f'--config.data.data_dir={data_dir}', '--config.eval.num_samples=0', *args]


@pytest.mark.slow
@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT], ids=['SIGTERM', 'SIGINT'])
def test_a_signal_saves_a_checkpoint_and_exits_cleanly(sig, tmp_path, data_dir):
  workdir = tmp_path / 'run'
  # With --retain_host_memory (jgan.host_memory's glibc settings): the flag is accepted and the run trains and stops.
  process = subprocess.Popen(_cli(f'--workdir={workdir}', '--config.train.steps=100000', '--config.train.log_every=1',
                                  '--retain_host_memory', data_dir=data_dir),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  for line in process.stdout:
    if line.startswith('step') and '/100000' in line:
      break
  process.send_signal(sig)
  output = process.stdout.read()
  process.stdout.close()
  assert process.wait(timeout=120) == 0, output[-2000:]
  assert 'checkpoint saved' in output and 'Traceback' not in output
  saved = [int(name) for name in os.listdir(workdir / 'checkpoints') if name.isdigit()]
  assert len(saved) == 1 and saved[0] >= 1
  assert f'stopped at step {saved[0]}' in output


@pytest.mark.parametrize('args, message', [
    (['--config.train.stepz=5'], "unknown config key 'stepz' in --config.train.stepz=5: did you mean 'steps'?"),
    (['--config.train.bogus=5'], "unknown config key 'bogus' in --config.train.bogus=5: check its spelling"),
    (['--config.data.name=mnistt'], "unknown dataset 'mnistt'"),
    (['--config.train.log_every=0'], "config key 'train.log_every' is 0; it must be a whole number >= 1"),
    (['--config.data.resolution=48'], 'dcgan makes square images'),
    (['--config.data.name=folder', '--config.data.folder={tmp}/broken', '--config.train.batch_size=2'],
     'cannot read image'),
])
@pytest.mark.slow
def test_bad_input_gets_one_line_on_stderr(args, message, tmp_path, data_dir):
  (tmp_path / 'broken').mkdir()
  for name in ('a.png', 'b.png'):
    (tmp_path / 'broken' / name).write_bytes(b'truncated')
  args = [a.format(tmp=tmp_path) for a in args]
  result = subprocess.run(_cli(f'--workdir={tmp_path / "run"}', *args, data_dir=data_dir), capture_output=True,
                          text=True, timeout=300)
  errors = _errors(result.stderr)
  assert result.returncode == 2, result.stderr[-2000:]
  assert len(errors) == 1 and errors[0].startswith('error: ') and message in errors[0], result.stderr[-2000:]


@pytest.mark.slow
def test_a_setting_the_game_does_not_read_stops_the_run_in_one_line(tmp_path):
  # StyleGAN2's game has its own loss and one D step per G step: it reads neither key.
  for override in ('--config.gan.loss=hinge', '--config.gan.n_critic=5'):
    command = [sys.executable, os.path.join(ROOT, 'train.py'), f'--config={config_file("stylegan2_digits")}',
               f'--workdir={tmp_path / "run"}', override]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    key = override.split('=')[0].removeprefix('--config.')
    assert result.returncode == 2 and _errors(result.stderr) == [
        f"error: config key '{key}' is not read by model 'stylegan2', which plays the style game (jgan.games.style); "
        f"it belongs to the {'adversarial, paired, cycle, growing' if key == 'gan.loss' else 'adversarial, growing'} "
        f"game(s). The style game's keys under 'gan' are ema_decay, ema_start, pl_batch_shrink, pl_decay, pl_every, "
        f"pl_weight, r1_every, r1_gamma, style_mixing, w_avg_decay: remove it from the config file or the --config "
        f"override"], result.stderr[-2000:]
  assert not (tmp_path / 'run').exists()


@pytest.mark.slow
def test_damaged_checkpoint_data_gets_one_line_and_no_tracebacks(tmp_path, data_dir):
  workdir = tmp_path / 'run'
  first = subprocess.run(_cli(f'--workdir={workdir}', '--config.train.steps=2', data_dir=data_dir),
                         capture_output=True, text=True, timeout=300)
  assert first.returncode == 0, first.stderr[-2000:]
  # The arrays' data damaged and their metadata intact: Orbax's restore would fail part-way through its concurrent
  # reads and leave the others to fail later, a traceback each; jgan.checkpoint reads every array first.
  data_files = glob.glob(str(workdir / 'checkpoints' / '2' / 'state' / 'ocdbt.process_*' / 'd' / '*'))
  assert data_files
  for path in data_files:
    with open(path, 'wb') as f:
      f.write(b'garbage')
  result = subprocess.run(_cli(f'--workdir={workdir}', '--config.train.steps=4', data_dir=data_dir),
                          capture_output=True, text=True, timeout=300)
  errors = _errors(result.stderr)
  assert result.returncode == 2, result.stderr[-2000:]
  ours = [line for line in errors if line.startswith('error: ')]
  assert len(ours) == 1 and ours[0].startswith('error: checkpoint 2 in ') and 'is damaged' in ours[0], errors
  assert 'TensorStore details' not in ours[0] and 'cannot be read' in ours[0]
  assert errors == ours, errors


@pytest.mark.slow
def test_an_unknown_key_in_a_config_file_is_named(tmp_path, data_dir):
  config_file = tmp_path / 'typo.py'
  config_file.write_text('from jgan.config import base_config\n\ndef get_config():\n'
                         '  config = base_config()\n  config.train.batchsize = 32\n  return config\n')
  result = subprocess.run([sys.executable, os.path.join(ROOT, 'train.py'), f'--config={config_file}',
                           f'--workdir={tmp_path / "run"}'], capture_output=True, text=True, timeout=300)
  assert result.returncode == 2
  assert "error: unknown config key 'train.batchsize'" in result.stderr and 'Traceback' not in result.stderr


@pytest.mark.slow
def test_the_step_compiles_once_per_shape(tiny_config, tmp_path, monkeypatch):
  tiny_config.train.steps = 6
  monkeypatch.setattr(engine, 'train_step', chex.assert_max_traces(engine.train_step, n=1))
  train.run(tiny_config, str(tmp_path / 'dcgan'))  # six iterations, one trace
  chex.clear_trace_counter()
  # ProGAN's three levels: one trace each, the fade and the stable stretch of a level sharing theirs.
  config = tiny_progan(tiny_config.data.data_dir)
  config.train.steps = 14
  assert len(growing.stages(config)) == 5
  monkeypatch.setattr(engine, 'train_step', chex.assert_max_traces(engine.train_step.__wrapped__, n=3))
  train.run(config, str(tmp_path / 'progan'))
