"""The two photos that scikit-learn ships (china.jpg, flower.jpg, 427x640 RGB) as an offline source of patches.

The image-to-image demos crop random patches from them (jgan.data.pairs, data.load_size=-1). Each photo is
shrunk to half size, 213x320, and cut into 64x64 tiles, 3 rows of 5; every fourth tile in reading order
(3 of 15 per photo) is held out, so held-out patches share no pixel with training ones yet show the same
kinds of texture (temple, trees, water, sky; petals, leaves, background). Splits: 'train', 'test' (both
photos), or one photo's, e.g. 'china_train', 'flower_test' (the two domains of the CycleGAN demo).
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from jgan.errors import JganError

PHOTOS = ('china', 'flower')
PARTS = ('train', 'test')
SPLITS = (*PARTS, *(f'{photo}_{part}' for photo in PHOTOS for part in PARTS))
TILE = 64
_SIZE = (320, 213)  # width, height: half the original, antialiased
_HELD_OUT_EVERY = 4
# Random crops need many records per epoch from few tiles: each tile stands for this many.
_RECORDS_PER_TILE = 16


def photo_tiles(photo: str, part: str) -> np.ndarray:
  """uint8 [N, 64, 64, 3]: the tiles of `photo` that belong to split part 'train' or 'test'."""
  from sklearn.datasets import load_sample_image  # Lazily: only this source needs scikit-learn's photos.

  image = np.asarray(Image.fromarray(load_sample_image(f'{photo}.jpg')).resize(_SIZE, Image.BICUBIC))
  rows, columns = image.shape[0] // TILE, image.shape[1] // TILE
  tiles = image[:rows * TILE, :columns * TILE].reshape(rows, TILE, columns, TILE, 3).swapaxes(1, 2)
  tiles = tiles.reshape(rows * columns, TILE, TILE, 3)
  held_out = np.arange(len(tiles)) % _HELD_OUT_EVERY == _HELD_OUT_EVERY - 1
  return tiles[held_out if part == 'test' else ~held_out]


class BundledPhotos:
  """A random-access source of {'image': a 64x64 tile, 'label': its photo's index}; the pipeline's random
  crop makes it a patch."""

  def __init__(self, split: str):
    if split not in SPLITS:
      raise JganError(f"the bundled photos have splits {', '.join(SPLITS)}, not {split!r}: set config.data.split")
    photo, _, part = split.rpartition('_')
    names = (photo,) if photo else PHOTOS
    tiles = [photo_tiles(name, part) for name in names]
    self._tiles = np.concatenate(tiles)
    self._labels = np.concatenate([np.full(len(t), PHOTOS.index(name)) for t, name in zip(tiles, names, strict=True)])

  def __len__(self) -> int:
    return len(self._tiles) * _RECORDS_PER_TILE

  def __getitem__(self, index: int) -> dict:
    which = index % len(self._tiles)
    return {'image': self._tiles[which], 'label': int(self._labels[which])}
