"""The VGG19 features of SRGAN's perceptual content loss (Ledig et al. 2017), loading torchvision's weights.

SRGAN's content loss (Sec. 2.2.1, eq. 5) compares images by VGG19 (Simonyan & Zisserman 2015) feature maps
instead of pixels; its "VGG54" variant takes phi_5,4, the 4th convolution (after its ReLU) before the 5th
max-pool. This module is torchvision's vgg19().features[:36] (configuration 'E' up to conv5_4's ReLU, index 35),
layer for layer and with its parameter names (Flax module 'features_34' holds 'features.34.weight' and
'features.34.bias'), so torchvision's ImageNet weights convert by renaming and transposing:

  python -m jgan.metrics.vgg --convert=vgg19-dcbb9e9d.pth --out=vgg19.npz

(PyTorch is needed for the conversion only.) Then content_loss(load_variables('vgg19.npz'), fake, real).
"""
from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from jgan.metrics import torch_weights

WEIGHTS_FILE = 'vgg19-dcbb9e9d.pth'  # torchvision's VGG19_Weights.IMAGENET1K_V1.
_WEIGHTS_URL = f'https://download.pytorch.org/models/{WEIGHTS_FILE}'
_NETWORK = 'VGG19'  # In error messages.
# torchvision's cfgs['E'] (output channels of each 3x3 convolution, 'M' a 2x2 max-pool) without its final 'M':
# VGG54 stops at conv5_4, so the last layer built is torchvision's features[35], conv5_4's ReLU.
_CONFIG = (64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512)
FEATURES = 512  # Channels of phi_5,4; its height and width are the image's divided by 16 (four max-pools).
# ImageNet statistics of torchvision's transforms, for inputs in [0, 1].
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
# Ledig et al. Sec. 3.2: "VGG feature maps were also rescaled by a factor of 1/12.75 to obtain VGG losses of a
# scale that is comparable to the MSE loss", i.e. eq. 5 times 1/12.75^2 ~ 0.006.
CONTENT_LOSS_SCALE = 1 / 12.75**2


def _convert_hint(out: str = 'NPZ') -> str:
  return (f"convert torchvision's {WEIGHTS_FILE} ({_WEIGHTS_URL}) with "
          f'python -m jgan.metrics.vgg --convert={WEIGHTS_FILE} --out={out}')


def preprocess(images: jax.Array) -> jax.Array:
  """Turns jgan images into the input torchvision's VGG19 was trained on.

  Args:
    images: float [N, H, W, 1 or 3] in [-1, 1]; grey images are repeated to RGB.

  Returns:
    float32 [N, H, W, 3]: the images in [0, 1], normalised by ImageNet's per-channel mean and std.
  """
  x = jnp.asarray(images, jnp.float32)
  if x.shape[-1] == 1:
    x = jnp.repeat(x, 3, axis=-1)
  return ((x + 1) / 2 - jnp.asarray(_MEAN)) / jnp.asarray(_STD)


class VGG19Features(nn.Module):
  """torchvision's vgg19().features[:36], NHWC: the VGG54 feature map phi_5,4 of SRGAN's content loss.

  Variables: {'params': {'features_{i}': {'kernel': HWIO, 'bias'}}} for torchvision's conv indices i.
  Convolutions run at JAX's default precision (reduced on TPUs and TF32 GPUs): this is a training loss, not
  a metric compared across machines.
  """

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    """phi_5,4 of images.

    Args:
      images: float [N, H, W, 1 or 3] in [-1, 1].

    Returns:
      float32 [N, H // 16, W // 16, 512], after conv5_4's ReLU.
    """
    x = preprocess(images)
    index = 0  # torchvision's features index: a convolution and its ReLU take two, a max-pool one.
    for layer in _CONFIG:
      if layer == 'M':
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
        index += 1
      else:
        x = nn.relu(nn.Conv(layer, (3, 3), padding=((1, 1), (1, 1)), name=f'features_{index}')(x))
        index += 2
    return x


def content_loss(variables: Mapping, fake: jax.Array, real: jax.Array) -> jax.Array:
  """SRGAN's VGG54 content loss: the mean squared difference of phi_5,4 features, times CONTENT_LOSS_SCALE.

  Eq. 5 normalises the squared distance of the feature maps by their W x H positions only; this also averages
  over the 512 channels and the batch, like the pixel MSE it is weighed against, which makes it independent of
  image and batch size (a constant factor 1/512 that the loss weight absorbs). The paper's 1/12.75^2 is kept as
  a convention: its VGG19 weights and input scaling are not torchvision's, so the features' scale differs and
  the loss weight may still need tuning.

  Args:
    variables: VGG19Features' variables, e.g. from load_variables.
    fake: float [N, H, W, 1 or 3] in [-1, 1], the generated images; gradients flow through them.
    real: the reference images, of fake's shape.

  Returns:
    float32 scalar, 0 exactly when the features are equal.
  """
  features = VGG19Features().apply(variables, jnp.concatenate([fake, real]))  # One pass over both batches.
  fake_features, real_features = jnp.split(features, 2)
  return CONTENT_LOSS_SCALE * jnp.mean(jnp.square(fake_features - real_features))


@functools.cache
def _variable_shapes() -> dict[tuple[str, ...], tuple[int, ...]]:
  """Flat Flax variable path -> shape, from tracing init (no compilation, no memory)."""
  shapes = jax.eval_shape(VGG19Features().init, jax.random.PRNGKey(0),
                          jax.ShapeDtypeStruct((1, 16, 16, 3), jnp.float32))
  return {path: leaf.shape for path, leaf in traverse_util.flatten_dict(shapes).items()}


def _torch_name(path: tuple[str, ...]) -> str:
  collection, module, leaf = path  # ('params', 'features_34', 'kernel') -> 'features.34.weight'.
  return f"{module.replace('_', '.')}.{torch_weights.TORCH_SUFFIX[collection, leaf]}"


def convert_state_dict(state_dict: Mapping[str, np.ndarray]) -> dict:
  """Converts torchvision's VGG19 state_dict into VGG19Features' variables.

  Args:
    state_dict: name -> array as in vgg19-dcbb9e9d.pth ('features.{i}.weight' OIHW, 'features.{i}.bias').
      Keys VGG54 does not use, the classifier's, are ignored, so the whole network's state_dict converts.

  Returns:
    {'params': ...} of float32 numpy arrays for VGG19Features().apply.

  Raises:
    JganError: a key is missing or an array has the wrong shape (e.g. vgg19_bn's); the first one is named.
  """
  return torch_weights.from_state_dict(state_dict, _variable_shapes(), _torch_name, _NETWORK, _convert_hint())


def to_state_dict(variables: Mapping) -> dict[str, np.ndarray]:
  """The inverse of convert_state_dict: VGG19Features' variables in torchvision's names and layouts."""
  return torch_weights.to_state_dict(variables, _torch_name)


def load_variables(path: str) -> dict:
  """Reads VGG19Features' variables from an .npz written by `python -m jgan.metrics.vgg --convert`.

  Args:
    path: the .npz file; its keys are the '/'-joined Flax paths, e.g. 'params/features_34/kernel'.

  Returns:
    {'params': ...} of numpy arrays.

  Raises:
    JganError: the file is missing, unreadable, or does not hold VGG54's layers.
  """
  return torch_weights.load_npz(path, _variable_shapes(), _NETWORK, _convert_hint(path))


def convert_file(pth_path: str, npz_path: str) -> None:
  """Converts torchvision's VGG19 weight file into the .npz that load_variables reads; needs PyTorch.

  Args:
    pth_path: torchvision's vgg19-dcbb9e9d.pth (a torch.save'd state_dict).
    npz_path: the .npz to write.

  Raises:
    JganError: PyTorch is missing, or the file cannot be read or is not VGG19's state_dict.
  """
  state_dict = torch_weights.read_state_dict(pth_path, f'download {_WEIGHTS_URL}', _convert_hint())
  torch_weights.save_npz(convert_state_dict(state_dict), npz_path)


def main(argv: Sequence[str] | None = None) -> None:
  """python -m jgan.metrics.vgg --convert=PTH --out=NPZ; errors print as one line and exit 2."""
  torch_weights.converter_main('jgan.metrics.vgg', "Convert torchvision's ImageNet VGG19 weights for jgan.",
                               f"torchvision's {WEIGHTS_FILE}", convert_file, argv)


if __name__ == '__main__':
  main()
