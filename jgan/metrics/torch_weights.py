"""Converting PyTorch weight files into Flax variables: the parts that do not depend on the network.

A network ported layer for layer (the FID Inception network, SRGAN's VGG19) converts by renaming each Flax
variable to its torch state_dict name and transposing it between the two frameworks' layouts. The networks
supply the names and the shapes; this module does the layouts, the checks and the files, so every converter
fails with the same one-line JganErrors. PyTorch is imported only to read .pth files.
"""
from __future__ import annotations

import argparse
import zipfile
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from flax import traverse_util

from jgan.errors import JganError, exit_on_error

FlaxPath = tuple[str, ...]  # A flat Flax variable path, e.g. ('params', 'features_0', 'kernel').

# Flax leaf -> torch state_dict suffix, per collection (torch's BatchNorm2d weight is Flax's scale).
TORCH_SUFFIX = {
    ('params', 'kernel'): 'weight',
    ('params', 'scale'): 'weight',
    ('params', 'bias'): 'bias',
    ('batch_stats', 'mean'): 'running_mean',
    ('batch_stats', 'var'): 'running_var',
}

# Axis orders taking Flax layouts to torch's: HWIO -> OIHW conv kernels, [in, out] -> Linear's [out, in].
_TO_TORCH_AXES = {4: (3, 2, 0, 1), 2: (1, 0), 1: (0,)}


def torch_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
  """The torch shape of a Flax variable's shape."""
  return tuple(shape[axis] for axis in _TO_TORCH_AXES[len(shape)])


def torch_layout(value: np.ndarray) -> np.ndarray:
  """A Flax array in torch's layout."""
  return value.transpose(_TO_TORCH_AXES[value.ndim])


def flax_layout(value: np.ndarray) -> np.ndarray:
  """A torch array in Flax's layout."""
  return value.transpose(np.argsort(_TO_TORCH_AXES[value.ndim]))


def from_state_dict(state_dict: Mapping[str, np.ndarray], shapes: Mapping[FlaxPath, tuple[int, ...]],
                    torch_name: Callable[[FlaxPath], str], network: str, hint: str) -> dict:
  """Takes a network's variables out of a torch state_dict; keys the network lacks are left to the caller.

  Args:
    state_dict: torch name -> array in torch's layout.
    shapes: flat Flax path -> Flax shape of every variable of the network.
    torch_name: a Flax path's state_dict name.
    network: the network's name in error messages, e.g. 'VGG19'.
    hint: how to make the right file, ending each error message.

  Returns:
    Nested Flax variables of float32 numpy arrays.

  Raises:
    JganError: a key is missing or an array has the wrong shape; the first one is named.
  """
  flat = {}
  for path, shape in shapes.items():
    name = torch_name(path)
    if name not in state_dict:
      raise JganError(f'the {network} state_dict lacks {name!r}: {hint}')
    value = np.asarray(state_dict[name], np.float32)
    if value.shape != torch_shape(shape):
      raise JganError(f'{name!r} has shape {value.shape} in the {network} state_dict but the network needs '
                      f'{torch_shape(shape)}: {hint}')
    flat[path] = flax_layout(value)
  return traverse_util.unflatten_dict(flat)


def to_state_dict(variables: Mapping, torch_name: Callable[[FlaxPath], str]) -> dict[str, np.ndarray]:
  """The inverse of from_state_dict: torch name -> float32 numpy array in torch's layout."""
  flat = traverse_util.flatten_dict(dict(variables))
  return {torch_name(path): torch_layout(np.asarray(value, np.float32)) for path, value in flat.items()}


def load_npz(path: str, shapes: Mapping[FlaxPath, tuple[int, ...]], network: str, hint: str) -> dict:
  """Reads variables written by save_npz, checking that they are exactly the network's.

  Args:
    path: the .npz file; its keys are the '/'-joined Flax paths.
    shapes: flat Flax path -> Flax shape of every variable of the network.
    network: the network's name in error messages, e.g. 'VGG19'.
    hint: how to make the file, ending each error message.

  Returns:
    Nested Flax variables of numpy arrays.

  Raises:
    JganError: the file is missing, unreadable, or does not hold the network.
  """
  try:
    data = np.load(path, allow_pickle=False)
    if not isinstance(data, np.lib.npyio.NpzFile):
      raise JganError(f'{path} is a single .npy array, not the {network} weights: {hint}')
    with data:
      flat = {name: data[name] for name in data.files}
  except FileNotFoundError:
    raise JganError(f'there are no {network} weights at {path}: {hint}') from None
  except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
    raise JganError(f'cannot read the {network} weights {path} ({type(error).__name__}): {hint}') from None
  expected = {'/'.join(key): shape for key, shape in shapes.items()}
  for name, shape in expected.items():
    if name not in flat or flat[name].shape != shape:
      found = 'lacks it' if name not in flat else f'has shape {flat[name].shape}'
      raise JganError(f'{path} is not the {network} network ({name!r} {shape} expected, the file {found}): {hint}')
  unexpected = sorted(set(flat) - set(expected))
  if unexpected:
    raise JganError(f'{path} is not the {network} network (unexpected {unexpected[0]!r}): {hint}')
  return traverse_util.unflatten_dict(flat, sep='/')


def save_npz(variables: Mapping, npz_path: str) -> None:
  """Writes variables as the .npz that load_npz reads, keyed by '/'-joined Flax paths."""
  with open(npz_path, 'wb') as f:  # A file object, because np.savez appends .npz to a name that lacks it.
    np.savez(f, **traverse_util.flatten_dict(dict(variables), sep='/'))


def read_state_dict(pth_path: str, download_hint: str, hint: str) -> dict[str, np.ndarray]:
  """Reads a torch.save'd state_dict with PyTorch, imported here only: jgan itself does not depend on it.

  Args:
    pth_path: the .pth file.
    download_hint: where to get the right file, ending the message when torch.load fails.
    hint: how to convert the right file, ending the message when the file holds no state_dict.

  Returns:
    torch name -> numpy array.

  Raises:
    JganError: PyTorch is missing, or the file cannot be read or holds no state_dict.
  """
  try:
    import torch
  except ImportError:
    raise JganError(f'converting {pth_path} needs PyTorch: pip install torch (the CPU build is enough), or '
                    'convert on a machine that has it and copy the .npz') from None
  try:
    state_dict = torch.load(pth_path, map_location='cpu')
  except Exception as error:  # torch.load raises OSError, pickle and zip errors, RuntimeError, ...
    raise JganError(f'cannot read {pth_path} with torch.load ({type(error).__name__}): {download_hint}') from None
  if not isinstance(state_dict, Mapping):
    raise JganError(f'{pth_path} holds a {type(state_dict).__name__}, not a state_dict: {hint}')
  return {name: np.asarray(tensor) for name, tensor in state_dict.items()}


def converter_main(module: str, description: str, source: str, convert_file: Callable[[str, str], None],
                   argv: Sequence[str] | None = None) -> None:
  """The command line of a weight converter: python -m <module> --convert=PTH --out=NPZ, errors printed as
  one line with exit status 2."""
  parser = argparse.ArgumentParser(prog=f'python -m {module}', description=description)
  parser.add_argument('--convert', required=True, metavar='PTH', help=source)
  parser.add_argument('--out', required=True, metavar='NPZ', help='the .npz to write, for load_variables')
  args = parser.parse_args(argv)
  with exit_on_error():
    convert_file(args.convert, args.out)
  print(f'wrote {args.out}')
