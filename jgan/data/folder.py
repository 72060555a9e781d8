"""A folder of the user's own images as a random-access source (the ImageFolder convention)."""
from __future__ import annotations

import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from jgan.errors import JganError

EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.gif', '.webp', '.tif', '.tiff')


class ImageFolder:
  """Every image under `root`; images in subdirectories are labelled by subdirectory, sorted by name."""

  def __init__(self, root: str):
    if not root or not os.path.isdir(root):
      raise JganError(f'image folder {root!r} does not exist: set config.data.folder to a directory of images')
    self.paths = sorted(
        os.path.join(directory, name)
        for directory, _, names in os.walk(root) for name in names if name.lower().endswith(EXTENSIONS))
    if not self.paths:
      raise JganError(f'image folder {root!r} has no images ({", ".join(EXTENSIONS)}): '
                      f'put images there or point config.data.folder elsewhere')
    classes = sorted({os.path.relpath(os.path.dirname(p), root) for p in self.paths})
    self.num_classes = len(classes) if classes != ['.'] else 0
    index = {name: i for i, name in enumerate(classes)}
    self.labels = [index[os.path.relpath(os.path.dirname(p), root)] for p in self.paths]

  def __len__(self) -> int:
    return len(self.paths)

  def __getitem__(self, index: int) -> dict:
    path = self.paths[index]
    try:
      with Image.open(path) as image:
        pixels = np.asarray(image.convert('RGB' if image.mode not in ('L', 'RGB') else image.mode))
    except (OSError, UnidentifiedImageError) as error:
      raise JganError(f'cannot read image {path!r} ({error}): remove or replace the file') from None
    return {'image': pixels, 'label': self.labels[index] if self.num_classes else 0}
