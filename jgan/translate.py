"""Apply a trained image-to-image generator (Pix2Pix, CycleGAN, SRGAN) to your own images:

  python -m jgan.translate --workdir=runs/pix2pix_demo --input=photo.png --output=out/
  python -m jgan.translate --workdir=runs/cyclegan_demo --input=DIR --output=out/ --direction=BtoA

Each input image is converted to the generator's channels and translated at its own size when the network
accepts it (any size that its down-samplings divide); the output keeps the input's file name, as PNG.
"""
from __future__ import annotations

import os

import numpy as np
from absl import flags
from PIL import Image

from jgan import games, models, runs
from jgan.data import folder, pairs, pipeline
from jgan.errors import JganError, run_program
from jgan.writer import to_uint8


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
  apply = runs.translator(run.game, direction)
  shape = run.game.input_shape
  if direction == 'BtoA':
    shape = (*shape[:2], run.config.data.channels)
  multiple = models.get_family(run.config.model.name).input_multiple(games.image_shape(run.config))
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


def main() -> None:
  FLAGS = flags.FLAGS
  for name in ('workdir', 'input', 'output'):
    if not FLAGS[name].value:
      raise JganError(f'pass --{name}: python -m jgan.translate --workdir=RUN --input=IMAGE_OR_DIR --output=DIR')
  written = translate_files(FLAGS.workdir, FLAGS.input, FLAGS.output, FLAGS.direction, FLAGS.step)
  print(f'wrote {len(written)} image(s) to {FLAGS.output}')


if __name__ == '__main__':
  flags.DEFINE_string('workdir', None, 'The directory train.py wrote.')
  flags.DEFINE_string('input', None, 'An image, or a directory of images.')
  flags.DEFINE_string('output', None, 'The directory to write the translated PNGs to.')
  flags.DEFINE_enum('direction', 'AtoB', ['AtoB', 'BtoA'], 'BtoA: CycleGAN only.')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
  run_program(main)
