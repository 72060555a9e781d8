"""The 1,797 8x8 handwritten digits that scikit-learn ships, as a TFDS dataset that needs no network.

`load_digits_arrays` is the one place the raw data and its train/test split are defined; the TFDS
builder below and the digits classifier (jgan.metrics.digits_classifier) both read it.
"""
from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

NUM_CLASSES = 10
# A fixed 1,497 / 300 split: the classifier that scores generated digits is checked on held-out images.
_TEST_SIZE = 300
_SPLIT_SEED = 0


def load_digits_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
  """Returns (images uint8 [N, 8, 8, 1] in 0..255, labels int32 [N]) for split 'train', 'test' or 'all'."""
  from sklearn.datasets import load_digits  # Imported lazily: only this dataset needs scikit-learn.

  digits = load_digits()
  # The pixel values are counts 0..16 of the 4x4 blocks that were ink; map them to 0..255.
  images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
  labels = digits.target.astype(np.int32)
  order = np.random.default_rng(_SPLIT_SEED).permutation(len(labels))
  if split == 'all':
    index = np.arange(len(labels))
  elif split == 'train':
    index = np.sort(order[_TEST_SIZE:])
  elif split == 'test':
    index = np.sort(order[:_TEST_SIZE])
  else:
    raise ValueError(f"digits has splits 'train', 'test' and 'all', not {split!r}")
  return images[index], labels[index]


class SklearnDigits(tfds.core.GeneratorBasedBuilder):
  """scikit-learn's bundled handwritten digits (UCI optdigits test set), 8x8 grey, 10 classes."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description='The 1,797 8x8 handwritten digits bundled with scikit-learn, scaled to 0..255.',
        features=tfds.features.FeaturesDict({
            # A Tensor rather than an Image feature: encoding Image features from arrays needs TensorFlow.
            'image': tfds.features.Tensor(shape=(8, 8, 1), dtype=np.uint8),
            'label': tfds.features.ClassLabel(num_classes=NUM_CLASSES),
        }),
        supervised_keys=('image', 'label'),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download: the data ships with scikit-learn.
    return {split: self._generate_examples(split) for split in ('train', 'test')}

  def _generate_examples(self, split):
    images, labels = load_digits_arrays(split)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
      yield i, {'image': image, 'label': int(label)}
