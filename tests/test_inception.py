"""Tests of the FID Inception network (jgan.metrics.inception) and the conversion of pytorch-fid's weights."""
from __future__ import annotations

import sys
import types

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jgan.errors import JganError
from jgan.metrics import inception

# pytorch-fid's fid_inception_v3() (torchvision's Inception3 with num_classes=1008, aux_logits=False and the FID
# blocks) has 23,850,960 parameters and 34,432 BatchNorm statistics (94 BatchNorms, a running mean and variance
# per channel). Counted with numel() over parameters() and the running_* buffers of that network rebuilt in plain
# PyTorch 2.13; the same as torchvision's published num_params of inception_v3, 27,161,264, less its AuxLogits
# head (3,326,696) plus the 8 extra fc outputs (8 * 2048 + 8).
_REFERENCE_PARAMS = 23_850_960
_REFERENCE_BN_STATS = 34_432
_STATE_DICT_KEYS = 472  # 94 convolutions + 4 arrays for each of 94 BatchNorms + fc weight and bias.


def _count(tree) -> int:
  return sum(leaf.size for leaf in jax.tree.leaves(tree))


@pytest.fixture(scope='module')
def variables() -> dict:
  """Flax's random init, with random BatchNorm scales, offsets and statistics instead of its 1s and 0s."""
  init = jax.jit(inception.FIDInceptionV3().init)(jax.random.PRNGKey(42), jnp.zeros((1, 75, 75, 3)))
  rng = np.random.default_rng(0)

  def randomize(path, leaf):
    name = path[-1].key
    if name == 'var':
      return rng.uniform(0.5, 1.5, leaf.shape).astype(np.float32)
    if name in ('scale', 'bias', 'mean'):
      centre = 1.0 if name == 'scale' else 0.0
      return (centre + 0.1 * rng.standard_normal(leaf.shape)).astype(np.float32)
    return np.asarray(leaf)

  return jax.tree_util.tree_map_with_path(randomize, init)


def _images(n: int, size: int, channels: int) -> np.ndarray:
  return np.random.default_rng(size).uniform(-1, 1, (n, size, size, channels)).astype(np.float32)


def test_parameter_count_matches_pytorch_fid():
  shapes = jax.eval_shape(inception.FIDInceptionV3().init, jax.random.PRNGKey(0), jnp.zeros((1, 299, 299, 3)))
  assert _count(shapes['params']) == _REFERENCE_PARAMS
  assert _count(shapes['batch_stats']) == _REFERENCE_BN_STATS


@pytest.mark.slow
@pytest.mark.parametrize('size,channels', [(32, 1), (299, 3)])
def test_output_shapes(variables, size, channels):
  pool3, logits = jax.eval_shape(inception.FIDInceptionV3().apply, variables, _images(2, size, channels))
  chex.assert_shape([pool3, logits], [(2, 2048), (2, 1008)])
  chex.assert_type([pool3, logits], jnp.float32)
  # Three images in batches of 2 pad the second batch; the reversed order puts each image in another slot.
  images = _images(3, size, channels)
  features, probs = inception.feature_extractor(variables, batch_size=2).features_and_probs(images)
  chex.assert_shape([features, probs], [(3, 2048), (3, 1008)])
  chex.assert_type([features, probs], np.float64)
  chex.assert_tree_all_finite([features, probs])
  np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-5)
  reversed_features, _ = inception.feature_extractor(variables, batch_size=2).features_and_probs(images[::-1])
  np.testing.assert_allclose(reversed_features[::-1], features, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_state_dict_round_trip(variables, tmp_path):
  state_dict = inception.to_state_dict(variables)
  assert len(state_dict) == _STATE_DICT_KEYS
  # pytorch-fid's names and layouts: OIHW conv kernels, [out, in] fc weight, BatchNorm running statistics.
  chex.assert_shape([state_dict['Conv2d_1a_3x3.conv.weight'], state_dict['Mixed_6b.branch7x7_2.conv.weight'],
                     state_dict['Mixed_7c.branch_pool.bn.running_var'], state_dict['fc.weight']],
                    [(32, 3, 3, 3), (128, 128, 1, 7), (192,), (1008, 2048)])
  np.savez(tmp_path / 'state_dict.npz', **state_dict, **{'Mixed_5b.branch1x1.bn.num_batches_tracked': 0})
  with np.load(tmp_path / 'state_dict.npz') as data:
    converted = inception.convert_state_dict({name: data[name] for name in data.files})
  chex.assert_trees_all_equal(converted, variables)
  images = _images(2, 32, 1)
  expected = inception.feature_extractor(variables, batch_size=2).features_and_probs(images)
  actual = inception.feature_extractor(converted, batch_size=2).features_and_probs(images)
  chex.assert_trees_all_equal(actual, expected)


def _assert_one_line_error(match: str, function, *args) -> str:
  with pytest.raises(JganError, match=match) as error:
    function(*args)
  assert '\n' not in str(error.value)
  return str(error.value)


@pytest.mark.slow
def test_convert_state_dict_names_the_offending_key(variables):
  state_dict = inception.to_state_dict(variables)
  missing = {name: value for name, value in state_dict.items() if name != 'Mixed_6c.branch7x7dbl_3.bn.running_mean'}
  _assert_one_line_error("lacks 'Mixed_6c.branch7x7dbl_3.bn.running_mean'", inception.convert_state_dict, missing)
  wrong_shape = {**state_dict, 'Mixed_7a.branch3x3_2.conv.weight': np.zeros((320, 192, 1, 3), np.float32)}
  _assert_one_line_error(r"'Mixed_7a.branch3x3_2.conv.weight' has shape \(320, 192, 1, 3\) .* needs "
                         r'\(320, 192, 3, 3\)', inception.convert_state_dict, wrong_shape)
  unexpected = {**state_dict, 'AuxLogits.fc.weight': np.zeros((1008, 768), np.float32)}
  _assert_one_line_error("unexpected key 'AuxLogits.fc.weight'", inception.convert_state_dict, unexpected)


def test_load_variables_errors_say_how_to_convert(tmp_path):
  hint = r'python -m jgan\.metrics\.inception --convert=pt_inception-2015-12-05-6726825d\.pth'
  _assert_one_line_error(f'no FID Inception weights at .*missing.npz: .*{hint}', inception.load_variables,
                         str(tmp_path / 'missing.npz'))
  (tmp_path / 'garbage.npz').write_bytes(b'not an npz file \x00\xff' * 10)
  _assert_one_line_error(f'cannot read .*garbage.npz.*{hint}', inception.load_variables,
                         str(tmp_path / 'garbage.npz'))
  np.savez(tmp_path / 'other.npz', **{'params/conv1/kernel': np.zeros((3, 3, 1, 32), np.float32)})
  _assert_one_line_error(f'other.npz is not the FID Inception network .*{hint}', inception.load_variables,
                         str(tmp_path / 'other.npz'))


@pytest.mark.slow
def test_cli_converts_a_weight_file(variables, tmp_path, monkeypatch, capsys):
  # The test environment has no PyTorch; a stand-in torch.load reads the state_dict from an npz instead.
  np.savez(tmp_path / 'weights.npz', **inception.to_state_dict(variables))
  fake_torch = types.SimpleNamespace(load=lambda path, map_location: dict(np.load(path)))
  monkeypatch.setitem(sys.modules, 'torch', fake_torch)
  out = str(tmp_path / 'fid_inception.npz')
  inception.main([f'--convert={tmp_path / "weights.npz"}', f'--out={out}'])
  chex.assert_trees_all_equal(inception.load_variables(out), variables)
  monkeypatch.setitem(sys.modules, 'torch', None)  # Makes `import torch` raise ImportError.
  with pytest.raises(SystemExit) as exit_info:
    inception.main(['--convert=weights.pth', f'--out={out}'])
  assert exit_info.value.code == 2
  stderr = capsys.readouterr().err
  assert stderr.count('\n') == 1 and 'needs PyTorch: pip install torch' in stderr
