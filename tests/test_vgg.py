"""Tests of SRGAN's VGG19 feature network (jgan.metrics.vgg) and the conversion of torchvision's weights."""
from __future__ import annotations

import sys
import types

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jgan.errors import JganError
from jgan.metrics import vgg

# torchvision's vgg19().features: 16 convolutions, 20,024,384 parameters (its published num_params 143,667,240
# less the classifier's 25088*4096+4096 + 4096*4096+4096 + 4096*1000+1000). VGG54 uses all 16, stopping only
# before the last max-pool, so its parameters are all of features'.
_REFERENCE_PARAMS = 20_024_384
_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)


@pytest.fixture(scope='module')
def variables() -> dict:
  """He-initialised random weights and biases, drawn in numpy from the traced shapes (no compilation)."""
  shapes = jax.eval_shape(vgg.VGG19Features().init, jax.random.PRNGKey(0), jnp.zeros((1, 16, 16, 3)))
  rng = np.random.default_rng(0)

  def draw(leaf):
    std = np.sqrt(2 / np.prod(leaf.shape[:-1])) if len(leaf.shape) == 4 else 0.1
    return (std * rng.standard_normal(leaf.shape)).astype(np.float32)

  return jax.tree.map(draw, shapes)


def _images(n: int, size: int, channels: int, seed: int = 0) -> np.ndarray:
  return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, channels)).astype(np.float32)


def _assert_one_line_error(match: str, function, *args) -> None:
  with pytest.raises(JganError, match=match) as error:
    function(*args)
  assert '\n' not in str(error.value)


def test_shapes_and_parameter_count(variables):
  assert sum(leaf.size for leaf in jax.tree.leaves(variables)) == _REFERENCE_PARAMS
  assert sorted(variables['params']) == sorted(f'features_{i}' for i in _CONV_INDICES)
  for channels in (1, 3):
    features = jax.eval_shape(vgg.VGG19Features().apply, variables, _images(2, 32, channels))
    chex.assert_shape(features, (2, 2, 2, vgg.FEATURES))
    chex.assert_type(features, jnp.float32)


def test_preprocess_normalises_like_torchvision():
  grey = _images(2, 4, 1)
  np.testing.assert_array_equal(vgg.preprocess(grey), vgg.preprocess(np.repeat(grey, 3, axis=-1)))
  # White (1 in jgan, 1.0 in [0, 1]) and black, through torchvision's Normalize.
  extremes = vgg.preprocess(np.array([1.0, -1.0], np.float32).reshape(2, 1, 1, 1))
  mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
  np.testing.assert_allclose(extremes[:, 0, 0], [(1 - mean) / std, -mean / std], rtol=1e-6)


def test_state_dict_round_trip(variables):
  state_dict = vgg.to_state_dict(variables)
  assert sorted(state_dict) == sorted(f'features.{i}.{leaf}' for i in _CONV_INDICES for leaf in ('weight', 'bias'))
  chex.assert_shape([state_dict['features.0.weight'], state_dict['features.34.weight'], state_dict['features.34.bias']],
                    [(64, 3, 3, 3), (512, 512, 3, 3), (512,)])
  # torchvision's full state_dict also has the classifier, which VGG54 ignores (a stand-in of the right name).
  converted = vgg.convert_state_dict({**state_dict, 'classifier.6.weight': np.zeros((1000, 4096), np.float32)})
  chex.assert_trees_all_equal(converted, variables)


def test_convert_state_dict_names_the_offending_key(variables):
  state_dict = vgg.to_state_dict(variables)
  missing = {name: value for name, value in state_dict.items() if name != 'features.21.bias'}
  _assert_one_line_error("VGG19 state_dict lacks 'features.21.bias'", vgg.convert_state_dict, missing)
  # vgg19_bn's BatchNorm at features.1 shifts every later convolution, so its names meet the wrong arrays.
  wrong_shape = {**state_dict, 'features.2.weight': np.ones((64,), np.float32)}
  _assert_one_line_error(r"'features.2.weight' has shape \(64,\) .* needs \(64, 64, 3, 3\)", vgg.convert_state_dict,
                         wrong_shape)


def test_cli_converts_and_load_variables_reads_it(variables, tmp_path, monkeypatch, capsys):
  # The test environment has no PyTorch; a stand-in torch.load reads the state_dict from an npz instead.
  np.savez(tmp_path / 'weights.npz', **vgg.to_state_dict(variables))
  monkeypatch.setitem(sys.modules, 'torch', types.SimpleNamespace(load=lambda path, map_location: dict(np.load(path))))
  out = tmp_path / 'vgg19.npz'
  vgg.main([f'--convert={tmp_path / "weights.npz"}', f'--out={out}'])
  chex.assert_trees_all_equal(vgg.load_variables(str(out)), variables)
  monkeypatch.setitem(sys.modules, 'torch', None)  # Makes `import torch` raise ImportError.
  with pytest.raises(SystemExit) as exit_info:
    vgg.main(['--convert=vgg19-dcbb9e9d.pth', f'--out={out}'])
  assert exit_info.value.code == 2
  stderr = capsys.readouterr().err
  assert stderr.count('\n') == 1 and 'needs PyTorch: pip install torch' in stderr


def test_load_variables_errors_say_how_to_convert(variables, tmp_path):
  hint = r'python -m jgan\.metrics\.vgg --convert=vgg19-dcbb9e9d\.pth'
  _assert_one_line_error(f'no VGG19 weights at .*missing.npz: .*{hint}', vgg.load_variables,
                         str(tmp_path / 'missing.npz'))
  (tmp_path / 'corrupt.npz').write_bytes(b'not an npz file \x00\xff' * 10)
  _assert_one_line_error(f'cannot read .*corrupt.npz.*{hint}', vgg.load_variables, str(tmp_path / 'corrupt.npz'))
  flat = {f'params/features_{i}/{leaf}': np.asarray(variables['params'][f'features_{i}'][leaf])
          for i in _CONV_INDICES for leaf in ('kernel', 'bias')}
  np.savez(tmp_path / 'missing_key.npz', **{k: v for k, v in flat.items() if k != 'params/features_34/kernel'})
  _assert_one_line_error(f"not the VGG19 network .*'params/features_34/kernel'.*lacks it.*{hint}", vgg.load_variables,
                         str(tmp_path / 'missing_key.npz'))
  np.savez(tmp_path / 'misshapen.npz', **{**flat, 'params/features_0/kernel': np.zeros((3, 3, 1, 64), np.float32)})
  _assert_one_line_error(rf'not the VGG19 network .*has shape \(3, 3, 1, 64\).*{hint}', vgg.load_variables,
                         str(tmp_path / 'misshapen.npz'))


def test_content_loss(variables):
  loss = jax.jit(vgg.content_loss)
  real = _images(2, 16, 3)
  assert float(loss(variables, real, real)) == 0.0
  nearby = float(loss(variables, real + 0.05 * _images(2, 16, 3, seed=1), real))
  far = float(loss(variables, _images(2, 16, 3, seed=2), real))
  assert 0 < nearby < far
