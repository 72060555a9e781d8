"""The Inception-v3 network of FID (Heusel et al. 2017), in Flax, loading pytorch-fid's converted weights.

FID is defined on the TensorFlow Inception graph of 2015-12-05 used by TTUR; pytorch-fid ports it to PyTorch as
torchvision's Inception3 with four patched blocks (pytorch_fid/inception.py, fid_inception_v3()). This module
is that network, layer for layer and with its parameter names, so pytorch-fid's weight file converts by
renaming and transposing:

  python -m jgan.metrics.inception --convert=pt_inception-2015-12-05-6726825d.pth --out=fid_inception.npz

(PyTorch is needed for the conversion only.) Then feature_extractor(load_variables('fid_inception.npz'))
gives pool3 features and class probabilities as the digits classifier's extractor does.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from jgan.errors import JganError
from jgan.metrics import torch_weights
from jgan.metrics.extractor import FeatureExtractor

FEATURES = 2048  # pool3: the global average pool of Mixed_7c, the features of FID.
NUM_LOGITS = 1008  # The 2015 graph's softmax layer, kept by pytorch-fid (torchvision's has 1000).
SIZE = 299
WEIGHTS_FILE = 'pt_inception-2015-12-05-6726825d.pth'  # pytorch-fid's FID_WEIGHTS_URL.
_NETWORK = 'FID Inception'  # In error messages.
_BN_EPSILON = 1e-3  # torchvision's BasicConv2d: BatchNorm2d(eps=0.001), as in the TF graph.
# TPUs (and GPUs through TF32) compute float32 convolutions at reduced precision by default; FID compares
# feature statistics across papers and machines, so the network runs at full float32 everywhere.
_PRECISION = jax.lax.Precision.HIGHEST


def _convert_hint(out: str = 'NPZ') -> str:
  return (f"convert pytorch-fid's {WEIGHTS_FILE} with "
          f'python -m jgan.metrics.inception --convert={WEIGHTS_FILE} --out={out}')


class _BasicConv2d(nn.Module):
  """torchvision's BasicConv2d: convolution without bias, BatchNorm (running statistics), ReLU."""

  features: int
  kernel_size: tuple[int, int]
  strides: int = 1
  padding: tuple[int, int] = (0, 0)  # Symmetric (height, width) zero padding, as torch's Conv2d(padding=...).

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    pad_h, pad_w = self.padding
    x = nn.Conv(self.features, self.kernel_size, strides=self.strides, padding=((pad_h, pad_h), (pad_w, pad_w)),
                use_bias=False, precision=_PRECISION, name='conv')(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=_BN_EPSILON, name='bn')(x)
    return nn.relu(x)


def _avg_pool_3x3(x: jax.Array) -> jax.Array:
  # pytorch-fid's patch of InceptionA/C/E: TensorFlow's average pool leaves the padding out of the mean.
  return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3(x: jax.Array, stride: int) -> jax.Array:
  padding = ((1, 1), (1, 1)) if stride == 1 else 'VALID'
  return nn.max_pool(x, (3, 3), strides=(stride, stride), padding=padding)


class _InceptionA(nn.Module):
  """Mixed_5b-d: torchvision's InceptionA with pytorch-fid's FIDInceptionA average pool."""

  pool_features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    branch1x1 = _BasicConv2d(64, (1, 1), name='branch1x1')(x)
    branch5x5 = _BasicConv2d(48, (1, 1), name='branch5x5_1')(x)
    branch5x5 = _BasicConv2d(64, (5, 5), padding=(2, 2), name='branch5x5_2')(branch5x5)
    branch3x3dbl = _BasicConv2d(64, (1, 1), name='branch3x3dbl_1')(x)
    branch3x3dbl = _BasicConv2d(96, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(branch3x3dbl)
    branch3x3dbl = _BasicConv2d(96, (3, 3), padding=(1, 1), name='branch3x3dbl_3')(branch3x3dbl)
    branch_pool = _BasicConv2d(self.pool_features, (1, 1), name='branch_pool')(_avg_pool_3x3(x))
    return jnp.concatenate([branch1x1, branch5x5, branch3x3dbl, branch_pool], axis=-1)


class _InceptionB(nn.Module):
  """Mixed_6a: torchvision's InceptionB, the 35x35 -> 17x17 reduction."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    branch3x3 = _BasicConv2d(384, (3, 3), strides=2, name='branch3x3')(x)
    branch3x3dbl = _BasicConv2d(64, (1, 1), name='branch3x3dbl_1')(x)
    branch3x3dbl = _BasicConv2d(96, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(branch3x3dbl)
    branch3x3dbl = _BasicConv2d(96, (3, 3), strides=2, name='branch3x3dbl_3')(branch3x3dbl)
    return jnp.concatenate([branch3x3, branch3x3dbl, _max_pool_3x3(x, stride=2)], axis=-1)


class _InceptionC(nn.Module):
  """Mixed_6b-e: torchvision's InceptionC (factorised 7x7) with pytorch-fid's FIDInceptionC average pool."""

  channels_7x7: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    c7 = self.channels_7x7
    branch1x1 = _BasicConv2d(192, (1, 1), name='branch1x1')(x)
    branch7x7 = _BasicConv2d(c7, (1, 1), name='branch7x7_1')(x)
    branch7x7 = _BasicConv2d(c7, (1, 7), padding=(0, 3), name='branch7x7_2')(branch7x7)
    branch7x7 = _BasicConv2d(192, (7, 1), padding=(3, 0), name='branch7x7_3')(branch7x7)
    branch7x7dbl = _BasicConv2d(c7, (1, 1), name='branch7x7dbl_1')(x)
    branch7x7dbl = _BasicConv2d(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_2')(branch7x7dbl)
    branch7x7dbl = _BasicConv2d(c7, (1, 7), padding=(0, 3), name='branch7x7dbl_3')(branch7x7dbl)
    branch7x7dbl = _BasicConv2d(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_4')(branch7x7dbl)
    branch7x7dbl = _BasicConv2d(192, (1, 7), padding=(0, 3), name='branch7x7dbl_5')(branch7x7dbl)
    branch_pool = _BasicConv2d(192, (1, 1), name='branch_pool')(_avg_pool_3x3(x))
    return jnp.concatenate([branch1x1, branch7x7, branch7x7dbl, branch_pool], axis=-1)


class _InceptionD(nn.Module):
  """Mixed_7a: torchvision's InceptionD, the 17x17 -> 8x8 reduction."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    branch3x3 = _BasicConv2d(192, (1, 1), name='branch3x3_1')(x)
    branch3x3 = _BasicConv2d(320, (3, 3), strides=2, name='branch3x3_2')(branch3x3)
    branch7x7x3 = _BasicConv2d(192, (1, 1), name='branch7x7x3_1')(x)
    branch7x7x3 = _BasicConv2d(192, (1, 7), padding=(0, 3), name='branch7x7x3_2')(branch7x7x3)
    branch7x7x3 = _BasicConv2d(192, (7, 1), padding=(3, 0), name='branch7x7x3_3')(branch7x7x3)
    branch7x7x3 = _BasicConv2d(192, (3, 3), strides=2, name='branch7x7x3_4')(branch7x7x3)
    return jnp.concatenate([branch3x3, branch7x7x3, _max_pool_3x3(x, stride=2)], axis=-1)


class _InceptionE(nn.Module):
  """Mixed_7b/7c: torchvision's InceptionE with pytorch-fid's FIDInceptionE_1 / FIDInceptionE_2 pools."""

  max_pool: bool  # FIDInceptionE_2 (Mixed_7c): the TF graph max-pools where the paper average-pools.

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    branch1x1 = _BasicConv2d(320, (1, 1), name='branch1x1')(x)
    branch3x3 = _BasicConv2d(384, (1, 1), name='branch3x3_1')(x)
    branch3x3 = jnp.concatenate([
        _BasicConv2d(384, (1, 3), padding=(0, 1), name='branch3x3_2a')(branch3x3),
        _BasicConv2d(384, (3, 1), padding=(1, 0), name='branch3x3_2b')(branch3x3),
    ], axis=-1)
    branch3x3dbl = _BasicConv2d(448, (1, 1), name='branch3x3dbl_1')(x)
    branch3x3dbl = _BasicConv2d(384, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(branch3x3dbl)
    branch3x3dbl = jnp.concatenate([
        _BasicConv2d(384, (1, 3), padding=(0, 1), name='branch3x3dbl_3a')(branch3x3dbl),
        _BasicConv2d(384, (3, 1), padding=(1, 0), name='branch3x3dbl_3b')(branch3x3dbl),
    ], axis=-1)
    pooled = _max_pool_3x3(x, stride=1) if self.max_pool else _avg_pool_3x3(x)
    branch_pool = _BasicConv2d(192, (1, 1), name='branch_pool')(pooled)
    return jnp.concatenate([branch1x1, branch3x3, branch3x3dbl, branch_pool], axis=-1)


def preprocess(images: jax.Array) -> jax.Array:
  """Turns jgan images into the network's input, as pytorch-fid's InceptionV3.forward does.

  Args:
    images: float [N, H, W, 1 or 3] in [-1, 1], any H and W; grey images are repeated to RGB.

  Returns:
    float32 [N, 299, 299, 3] in [-1, 1]: bilinearly resized, as F.interpolate(align_corners=False) (half-pixel
    centres, no antialiasing). pytorch-fid maps [0, 1] to [-1, 1] after resizing; jgan images are already
    in [-1, 1], and resizing commutes with that affine map.
  """
  x = jnp.asarray(images, jnp.float32)
  if x.shape[-1] == 1:
    x = jnp.repeat(x, 3, axis=-1)
  if x.shape[1:3] != (SIZE, SIZE):
    x = jax.image.resize(x, (x.shape[0], SIZE, SIZE, 3), method='linear', antialias=False)
  return x


class FIDInceptionV3(nn.Module):
  """pytorch-fid's fid_inception_v3() in inference mode, NHWC, with the same parameter names.

  Variables: {'params': conv kernels HWIO, BatchNorm scale/bias, fc; 'batch_stats': BatchNorm mean/var}.
  """

  @nn.compact
  def __call__(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Pool3 features and logits of images.

    Args:
      images: float [N, H, W, 1 or 3] in [-1, 1], any H and W (resized to 299x299 by preprocess()).

    Returns:
      (pool3 float32 [N, 2048], logits float32 [N, 1008]).
    """
    x = preprocess(images)
    x = _BasicConv2d(32, (3, 3), strides=2, name='Conv2d_1a_3x3')(x)  # 149x149
    x = _BasicConv2d(32, (3, 3), name='Conv2d_2a_3x3')(x)  # 147x147
    x = _BasicConv2d(64, (3, 3), padding=(1, 1), name='Conv2d_2b_3x3')(x)
    x = _max_pool_3x3(x, stride=2)  # 73x73
    x = _BasicConv2d(80, (1, 1), name='Conv2d_3b_1x1')(x)
    x = _BasicConv2d(192, (3, 3), name='Conv2d_4a_3x3')(x)  # 71x71
    x = _max_pool_3x3(x, stride=2)  # 35x35
    x = _InceptionA(32, name='Mixed_5b')(x)
    x = _InceptionA(64, name='Mixed_5c')(x)
    x = _InceptionA(64, name='Mixed_5d')(x)
    x = _InceptionB(name='Mixed_6a')(x)  # 17x17
    x = _InceptionC(128, name='Mixed_6b')(x)
    x = _InceptionC(160, name='Mixed_6c')(x)
    x = _InceptionC(160, name='Mixed_6d')(x)
    x = _InceptionC(192, name='Mixed_6e')(x)
    x = _InceptionD(name='Mixed_7a')(x)  # 8x8
    x = _InceptionE(max_pool=False, name='Mixed_7b')(x)
    x = _InceptionE(max_pool=True, name='Mixed_7c')(x)
    pool3 = jnp.mean(x, axis=(1, 2))
    # torchvision's dropout before fc is the identity in inference mode.
    return pool3, nn.Dense(NUM_LOGITS, precision=_PRECISION, name='fc')(pool3)


@functools.cache
def _variable_shapes() -> dict[tuple[str, ...], tuple[int, ...]]:
  """Flat Flax variable path -> shape, from tracing init (no compilation, no memory)."""
  shapes = jax.eval_shape(FIDInceptionV3().init, jax.random.PRNGKey(0),
                          jax.ShapeDtypeStruct((1, SIZE, SIZE, 3), jnp.float32))
  return {path: leaf.shape for path, leaf in traverse_util.flatten_dict(shapes).items()}


def _torch_name(path: tuple[str, ...]) -> str:
  collection, *modules, leaf = path
  return '.'.join([*modules, torch_weights.TORCH_SUFFIX[collection, leaf]])


def convert_state_dict(state_dict: Mapping[str, np.ndarray]) -> dict:
  """Converts pytorch-fid's FID Inception state_dict into FIDInceptionV3's variables.

  Args:
    state_dict: name -> array as in pt_inception-2015-12-05-6726825d.pth (torchvision Inception3 names such
      as 'Mixed_5b.branch1x1.conv.weight', OIHW conv kernels); BatchNorm's num_batches_tracked is ignored.

  Returns:
    {'params': ..., 'batch_stats': ...} of float32 numpy arrays for FIDInceptionV3().apply.

  Raises:
    JganError: a key is missing or unexpected, or an array has the wrong shape; the first one is named.
  """
  shapes = _variable_shapes()
  variables = torch_weights.from_state_dict(state_dict, shapes, _torch_name, _NETWORK, _convert_hint())
  expected = {_torch_name(path) for path in shapes}
  # Torch's BatchNorm2d counts its training steps in a buffer that inference does not use.
  unexpected = [name for name in state_dict if name not in expected and not name.endswith('.num_batches_tracked')]
  if unexpected:
    raise JganError(f'the {_NETWORK} state_dict has the unexpected key {unexpected[0]!r} '
                    f'({len(unexpected)} in all), so it is not the FID network: {_convert_hint()}')
  return variables


def to_state_dict(variables: Mapping) -> dict[str, np.ndarray]:
  """The inverse of convert_state_dict: FIDInceptionV3's variables in pytorch-fid's names and layouts.

  Args:
    variables: {'params': ..., 'batch_stats': ...} of FIDInceptionV3.

  Returns:
    torch name -> float32 numpy array (OIHW conv kernels, [out, in] fc weight), without num_batches_tracked.
  """
  return torch_weights.to_state_dict(variables, _torch_name)


def load_variables(path: str) -> dict:
  """Reads FIDInceptionV3's variables from an .npz written by `python -m jgan.metrics.inception --convert`.

  Args:
    path: the .npz file; its keys are the '/'-joined Flax paths, e.g. 'params/Mixed_5b/branch1x1/conv/kernel'.

  Returns:
    {'params': ..., 'batch_stats': ...} of numpy arrays.

  Raises:
    JganError: the file is missing, unreadable, or does not hold the FID Inception network.
  """
  return torch_weights.load_npz(path, _variable_shapes(), _NETWORK, _convert_hint(path))


@jax.jit
def _features_and_probs(variables, inputs: jax.Array) -> tuple[jax.Array, jax.Array]:
  pool3, logits = FIDInceptionV3().apply(variables, inputs)
  return pool3, jax.nn.softmax(logits)


# Jitted apart from the network so that each image size compiles only the resize; the network compiles once
# per batch size, on its fixed [batch, 299, 299, 3] input.
_preprocess = jax.jit(preprocess)


def _extract(variables, images: jax.Array) -> tuple[jax.Array, jax.Array]:
  return _features_and_probs(variables, _preprocess(images))


def feature_extractor(variables: Mapping, batch_size: int = 50) -> FeatureExtractor:
  """Pool3 features (FID's) float64 [N, 2048] and the softmax of the 1008 logits (Inception Score's) of images
  in [-1, 1] (any H and W, 1 or 3 channels), with FIDInceptionV3's `variables` (from load_variables)."""
  return FeatureExtractor('the Inception network', functools.partial(_extract, variables), FEATURES, NUM_LOGITS,
                          batch_size)


def convert_file(pth_path: str, npz_path: str) -> None:
  """Converts pytorch-fid's weight file into the .npz that load_variables reads; needs PyTorch.

  Args:
    pth_path: pytorch-fid's pt_inception-2015-12-05-6726825d.pth (a torch.save'd state_dict).
    npz_path: the .npz to write.

  Raises:
    JganError: PyTorch is missing, or the file cannot be read or is not the FID Inception state_dict.
  """
  state_dict = torch_weights.read_state_dict(pth_path, f"download {WEIGHTS_FILE} from pytorch-fid's releases",
                                             _convert_hint())
  torch_weights.save_npz(convert_state_dict(state_dict), npz_path)


def main(argv: Sequence[str] | None = None) -> None:
  """python -m jgan.metrics.inception --convert=PTH --out=NPZ; errors print as one line and exit 2."""
  torch_weights.converter_main('jgan.metrics.inception', "Convert pytorch-fid's FID Inception weights for jgan.",
                               f"pytorch-fid's {WEIGHTS_FILE}", convert_file, argv)


if __name__ == '__main__':
  main()
