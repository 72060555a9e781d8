"""Image pairs for image-to-image translation, paired (Pix2Pix, SRGAN) and unpaired (CycleGAN).

Paired batches are {'input': [S, b, h, w, c], 'target': [S, b, H, W, C]}; config.data.pairs says how a pair
forms from a record:
  'aligned'     pix2pix's dataset files, A and B side by side in one image; data.direction 'AtoB' makes A
                the input, 'BtoA' B;
  'edges'       the input is the edge map of the target (an offline edges -> photo task on any images);
  'downsample'  the input is the target shrunk by model.scale with PIL's antialiased bicubic filter
                (super-resolution: SRGAN's low-resolution images are bicubic downsamplings, Ledig et al. Sec. 3.1);
  'features'    TFDS records holding the input under data.input_key and the target under data.image_key.
Unpaired batches are {'a': [...], 'b': [...]}: domain A from data.split, B from data.split_b, drawn
independently (B's image is chosen at random, as CycleGAN's unaligned loader does).

Jitter (Isola et al. 2017, Sec. 6.2): resize so the shorter side is data.load_size, crop a random
resolution x resolution square and mirror with probability 1/2 when data.mirror, the same crop and flip for
both images of a pair. data.load_size -1 crops at the image's own size; 0 centre-crops and resizes instead,
with no random crop.
"""
from __future__ import annotations

import grain
import ml_collections
import numpy as np
from PIL import Image, ImageFilter, ImageOps

from jgan.data import pipeline
from jgan.data.pipeline import to_pil
from jgan.errors import JganError

PAIRINGS = ('aligned', 'edges', 'downsample', 'features')


def to_array(pil: Image.Image) -> np.ndarray:
  """A PIL image -> float32 HxWxC in [-1, 1]."""
  pixels = np.asarray(pil, np.float32)
  return (pixels[..., None] if pixels.ndim == 2 else pixels) / 127.5 - 1.0


def jitter(images: list[Image.Image], data_cfg: ml_collections.ConfigDict, rng: np.random.Generator,
           mirror: bool) -> list[Image.Image]:
  """The same resize, crop and flip for every image of a pair (all of one size), to resolution x resolution."""
  resolution = data_cfg.resolution
  width, height = images[0].size
  if any(image.size != (width, height) for image in images):
    raise JganError(f'the images of a pair differ in size ({", ".join(str(i.size) for i in images)}): '
                    f'pairs must be aligned pixel for pixel')
  if data_cfg.load_size:
    if data_cfg.load_size > 0:
      if data_cfg.load_size < resolution:
        raise JganError(f'data.load_size={data_cfg.load_size} is below data.resolution={resolution}: the random '
                        f'crop needs load_size >= resolution')
      scale = data_cfg.load_size / min(width, height)
      size = (max(resolution, round(width * scale)), max(resolution, round(height * scale)))
    else:  # Crops of the image at its own size (SRGAN's 96x96 high-resolution patches).
      if min(width, height) < resolution:
        raise JganError(f'an image is {width}x{height}, smaller than a data.resolution={resolution} crop: use '
                        f'data.load_size >= {resolution} to enlarge it first, or a smaller resolution')
      size = (width, height)
    left = int(rng.integers(0, size[0] - resolution + 1))
    top = int(rng.integers(0, size[1] - resolution + 1))
  else:  # Centre square crop, then resize, as the generation pipeline does.
    scale = resolution / min(width, height)
    size = (round(width * scale), round(height * scale))
    left, top = (size[0] - resolution) // 2, (size[1] - resolution) // 2
  flip = mirror and rng.random() < 0.5
  out = []
  for image in images:
    if image.size != size:
      image = image.resize(size, Image.BICUBIC)  # pix2pix's resize filter
    image = image.crop((left, top, left + resolution, top + resolution))
    out.append(ImageOps.mirror(image) if flip else image)
  return out


def edge_map(image: Image.Image, channels: int) -> Image.Image:
  """Dark edges on white, like a sketch: the inverted Laplacian-style FIND_EDGES filter of the grey image."""
  edges = ImageOps.invert(image.convert('L').filter(ImageFilter.FIND_EDGES))
  return edges.convert('L' if channels == 1 else 'RGB')


def make_pair(record: dict, data_cfg: ml_collections.ConfigDict, input_shape: tuple[int, int, int],
              rng: np.random.Generator, mirror: bool) -> dict:
  """{'input', 'target'} float32 images in [-1, 1] from one record, per data_cfg.pairs."""
  channels, input_channels = data_cfg.channels, input_shape[-1]
  pairs = data_cfg.pairs
  if pairs == 'aligned':
    image = np.asarray(record['image'])
    width = image.shape[1]
    if width % 2:
      raise JganError(f'an image of shape {image.shape} is not an aligned pair (A|B side by side, even width): '
                      f"use pix2pix's combined images or set config.data.pairs")
    a, b = image[:, :width // 2], image[:, width // 2:]
    source, target = (a, b) if data_cfg.direction == 'AtoB' else (b, a)
    source, target = jitter([to_pil(source, input_channels), to_pil(target, channels)], data_cfg, rng, mirror)
  elif pairs == 'features':
    source, target = jitter([to_pil(record['input'], input_channels), to_pil(record['image'], channels)],
                            data_cfg, rng, mirror)
  elif pairs in ('edges', 'downsample'):
    (target,) = jitter([to_pil(record['image'], channels)], data_cfg, rng, mirror)
    if pairs == 'edges':
      source = edge_map(target, input_channels)
    else:
      source = target.resize((input_shape[1], input_shape[0]), Image.BICUBIC)
  else:
    raise JganError(f"unknown data.pairs {pairs!r}: use one of {', '.join(PAIRINGS)}")
  return {'input': to_array(source), 'target': to_array(target)}


def _unpaired_transform(data_cfg: ml_collections.ConfigDict, source_b, mirror: bool):
  def transform(record: dict, rng: np.random.Generator) -> dict:
    other = source_b[int(rng.integers(len(source_b)))]
    a, b = (jitter([to_pil(r['image'], data_cfg.channels)], data_cfg, rng, mirror)[0] for r in (record, other))
    return {'a': to_array(a), 'b': to_array(b)}
  return transform


def make_translation_dataset(data_cfg: ml_collections.ConfigDict, unpaired: bool, global_batch: int,
                             sub_batches: int, seed: int, input_shape: tuple[int, int, int]) -> grain.MapDataset:
  """Training batches of pairs (or unpaired domains) with jitter, this process's share, as pipeline.batched."""
  source, _ = pipeline.make_source(data_cfg)
  if unpaired:
    source_b, _ = pipeline.make_source(pipeline.with_split(data_cfg, data_cfg.split_b))
    transform = _unpaired_transform(data_cfg, source_b, data_cfg.mirror)
  else:
    def transform(record, rng):
      return make_pair(record, data_cfg, input_shape, rng, data_cfg.mirror)
  return pipeline.batched(source, data_cfg.name, global_batch, sub_batches, seed, transform)


def held_out_examples(data_cfg: ml_collections.ConfigDict, unpaired: bool, count: int,
                      input_shape: tuple[int, int, int], seed: int = 0) -> dict[str, np.ndarray]:
  """The first `count` examples of data.eval_split (and eval_split_b), the same at every call: jittered
  crops from a fixed seed, never mirrored. Used for sample grids and metrics.

  Raises:
    JganError: the split cannot be read.
  """
  source, _ = pipeline.make_source(pipeline.with_split(data_cfg, data_cfg.eval_split))
  if unpaired:
    source_b, _ = pipeline.make_source(pipeline.with_split(data_cfg, data_cfg.eval_split_b))
    transform = _unpaired_transform(data_cfg, source_b, mirror=False)
  else:
    def transform(record, rng):
      return make_pair(record, data_cfg, input_shape, rng, mirror=False)
  ds = grain.MapDataset.source(source).random_map(transform, seed=seed)
  examples = [ds[i] for i in range(min(count, len(ds)))]
  return {key: np.stack([e[key] for e in examples]) for key in examples[0]}
