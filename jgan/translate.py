"""Image-to-image runs: their sample grids and held-out metrics during training, and the tool that applies a
trained generator to the user's own images.

  python -m jgan.translate --workdir=runs/pix2pix_demo --input=photo.png --output=out/
  python -m jgan.translate --workdir=runs/cyclegan_demo --input=DIR --output=out/ --direction=BtoA

Each input image is converted to the generator's channels and translated at its own size when the network
accepts it (any size that its down-samplings divide); the output keeps the input's file name, as PNG.
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import jax
import ml_collections
import numpy as np
from PIL import Image

from jgan import models, runs
from jgan.data import folder, pairs, pipeline
from jgan.engine import Game, TrainState
from jgan.errors import JganError, exit_on_error
from jgan.images import to_uint8
from jgan.metrics import image_quality


def translator(game: Game, direction: str = 'AtoB'):
  """A jitted (state, images) -> translated images, with the generator of `direction` in inference mode."""
  if direction not in game.translations:
    raise JganError(f"this run translates {' and '.join(game.translations) or 'nothing'}, not {direction!r}: "
                    f'pass --direction={next(iter(game.translations), "AtoB")}')
  player = game.translations[direction]
  module = game.modules[player]

  @jax.jit
  def apply(state: TrainState, images: jax.Array) -> jax.Array:
    params = state.sampling_params()[player]
    return module.apply({'params': params, **state.collections[player]}, images, None, train=False)

  return apply


def _batches(apply, state: TrainState, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
  return np.concatenate([np.asarray(apply(state, images[i:i + batch_size]))
                         for i in range(0, len(images), batch_size)])


def _as_tile(images: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
  """Images shown beside outputs of `shape` [H, W, C]: upsampled by pixel repetition, grey made RGB."""
  factor = shape[0] // images.shape[1]
  images = images.repeat(factor, axis=1).repeat(factor, axis=2)
  return np.broadcast_to(images, (*images.shape[:3], shape[-1])) if images.shape[-1] != shape[-1] else images


class TranslationMonitor:
  """Grids of held-out examples (input | output | target; for unpaired runs a | G(a) | F(G(a)) | b | F(b) |
  G(F(b))) and held-out metrics: L1, MSE, PSNR and SSIM against the targets, or the cycle reconstruction
  error for unpaired runs, where there are no targets."""

  features, label = 'held_out', 'held-out examples'

  def __init__(self, config: ml_collections.ConfigDict, game: Game):
    self._game = game
    shape = pairs.input_shape(config)
    count = max(config.train.grid_size, config.eval.num_samples)
    examples = pairs.held_out_examples(config.data, game.unpaired, count, shape, seed=config.seed)
    self._grid_examples = {k: v[:config.train.grid_size] for k, v in examples.items()}
    self._eval_examples = examples if config.eval.num_samples > 0 else None
    self._forward = {direction: translator(game, direction) for direction in game.translations}
    self._baseline = {}
    if self._eval_examples is not None and not game.unpaired and 'scale' in config.model:
      upsampled = jax.image.resize(examples['input'], examples['target'].shape, 'bicubic')
      self._baseline = {f'bicubic_{k}': v for k, v in image_quality.compare(np.clip(upsampled, -1, 1),
                                                                             examples['target']).items()}

  def grid(self, state: TrainState) -> tuple[np.ndarray, int]:
    """The grid's images, row by row, and its number of columns."""
    ex = self._grid_examples
    if self._game.unpaired:
      ab, ba = self._forward['AtoB'], self._forward['BtoA']
      fake_b, fake_a = _batches(ab, state, ex['a']), _batches(ba, state, ex['b'])
      columns = [ex['a'], fake_b, _batches(ba, state, fake_b), ex['b'], fake_a, _batches(ab, state, fake_a)]
    else:
      output = _batches(self._forward['AtoB'], state, ex['input'])
      columns = [_as_tile(ex['input'], output.shape[1:]), output, ex['target']]
    return np.stack(columns, axis=1).reshape(-1, *columns[1].shape[1:]), len(columns)

  def __call__(self, state: TrainState) -> dict[str, float]:
    ex = self._eval_examples
    if self._game.unpaired:
      ab, ba = self._forward['AtoB'], self._forward['BtoA']
      cycle_a = np.mean(np.abs(_batches(ba, state, _batches(ab, state, ex['a'])) - ex['a']))
      cycle_b = np.mean(np.abs(_batches(ab, state, _batches(ba, state, ex['b'])) - ex['b']))
      return {'cycle_l1_a': float(cycle_a), 'cycle_l1_b': float(cycle_b), 'cycle_l1': float(cycle_a + cycle_b) / 2}
    output = _batches(self._forward['AtoB'], state, ex['input'])
    return {**image_quality.compare(output, ex['target']), **self._baseline}

  @property
  def evaluates(self) -> bool:
    return self._eval_examples is not None


def _input_paths(path: str) -> list[str]:
  if os.path.isdir(path):
    found = sorted(os.path.join(path, n) for n in os.listdir(path) if n.lower().endswith(folder.EXTENSIONS))
    if not found:
      raise JganError(f'no images ({", ".join(folder.EXTENSIONS)}) in --input={path!r}')
    return found
  if not os.path.isfile(path):
    raise JganError(f'--input={path!r} is neither an image nor a directory')
  return [path]


def translate_files(workdir: str, input_path: str, output_dir: str, direction: str = 'AtoB',
                    step: int | None = None) -> list[str]:
  """Translates the image (or every image in the directory) `input_path` into `output_dir`; returns the
  paths written.

  Raises:
    JganError: no run in workdir, an unreadable image, or one whose size the generator cannot take.
  """
  run = runs.load_tool_run(workdir, step, image_to_image=True)
  apply = translator(run.game, direction)
  shape = pairs.input_shape(run.config)
  if direction == 'BtoA':
    shape = (*shape[:2], run.config.data.channels)
  multiple = models.get_family(run.config.model.name).input_multiple(runs.image_shape(run.config))
  os.makedirs(output_dir, exist_ok=True)
  written = []
  for path in _input_paths(input_path):
    try:
      with Image.open(path) as image:
        pil = pipeline.to_pil(np.asarray(image.convert('RGB')), shape[-1])
    except OSError as error:
      raise JganError(f'cannot read image {path!r} ({error}): pass PNG or JPEG images') from None
    width, height = pil.size
    if width % multiple or height % multiple:
      raise JganError(f'{path} is {width}x{height} but this generator takes sides that are multiples of '
                      f'{multiple} (it was trained at {shape[1]}x{shape[0]}): crop or resize the image')
    output = np.asarray(apply(run.state, pairs.to_array(pil)[None]))[0]
    pixels = to_uint8(output)
    out_path = os.path.join(output_dir, os.path.splitext(os.path.basename(path))[0] + '.png')
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(out_path)
    written.append(out_path)
  return written


def main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(prog='python -m jgan.translate',
                                   description="Apply a trained image-to-image generator to your own images.")
  parser.add_argument('--workdir', required=True, help='the directory train.py wrote')
  parser.add_argument('--input', required=True, help='an image, or a directory of images')
  parser.add_argument('--output', required=True, help='the directory to write the translated PNGs to')
  parser.add_argument('--direction', default='AtoB', choices=('AtoB', 'BtoA'), help='BtoA: CycleGAN only')
  parser.add_argument('--step', type=int, default=None, help='checkpoint step (default: the latest)')
  args = parser.parse_args(argv)
  with exit_on_error():
    written = translate_files(args.workdir, args.input, args.output, args.direction, args.step)
  print(f'wrote {len(written)} image(s) to {args.output}')


if __name__ == '__main__':
  main()
