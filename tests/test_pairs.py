"""Image pairs for image-to-image translation: jitter, pairings, the bundled photos, held-out examples."""
import chex
import numpy as np
import pytest
from PIL import Image

from jgan.config import base_config
from jgan.data import pairs, photos
from jgan.errors import JganError


def _data_cfg(**overrides):
  config = base_config('pix2pix')
  config.data.update({'resolution': 16, 'channels': 3, 'load_size': 24, 'mirror': True, **overrides})
  return config


def _aligned(image: np.ndarray) -> dict:
  return {'image': np.concatenate([image, image], axis=1), 'label': 0}


def test_paired_jitter_crops_and_flips_both_images_alike():
  config = _data_cfg(pairs='aligned')
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
  outputs = [pairs.make_pair(_aligned(image), config.data, (16, 16, 3), np.random.default_rng(seed), mirror=True)
             for seed in range(16)]
  for pair in outputs:
    chex.assert_shape([pair['input'], pair['target']], (16, 16, 3))
    np.testing.assert_array_equal(pair['input'], pair['target'])  # identical images stay identical
  # ... and the jitter does vary: several different crops or flips among 16 draws.
  assert len({pair['input'].tobytes() for pair in outputs}) > 4


def test_aligned_direction_picks_the_half():
  config = _data_cfg(pairs='aligned', load_size=0, mirror=False)
  left, right = np.zeros((16, 16, 3), np.uint8), np.full((16, 16, 3), 255, np.uint8)
  record = {'image': np.concatenate([left, right], axis=1), 'label': 0}
  pair = pairs.make_pair(record, config.data, (16, 16, 3), np.random.default_rng(0), mirror=False)
  assert pair['input'].max() == -1.0 and pair['target'].min() == 1.0
  config.data.direction = 'BtoA'
  pair = pairs.make_pair(record, config.data, (16, 16, 3), np.random.default_rng(0), mirror=False)
  assert pair['input'].min() == 1.0 and pair['target'].max() == -1.0


def test_downsample_and_edges_make_the_input_from_the_target():
  image = np.random.default_rng(1).integers(0, 256, (40, 40, 3), dtype=np.uint8)
  record = {'image': image, 'label': 0}
  config = _data_cfg(pairs='downsample')
  pair = pairs.make_pair(record, config.data, (4, 4, 3), np.random.default_rng(0), mirror=True)
  chex.assert_shape([pair['input'], pair['target']], [(4, 4, 3), (16, 16, 3)])
  # An antialiased bicubic reduction: each input pixel is close to the mean of its 4x4 block.
  blocks = pair['target'].reshape(4, 4, 4, 4, 3).mean(axis=(1, 3))
  assert np.abs(pair['input'] - blocks).mean() < 0.25 * np.abs(pair['target'] - pair['target'].mean()).mean()
  config = _data_cfg(pairs='edges')
  flat = {'image': np.full((40, 40, 3), 90, np.uint8), 'label': 0}
  pair = pairs.make_pair(flat, config.data, (16, 16, 1), np.random.default_rng(0), mirror=False)
  chex.assert_shape(pair['input'], (16, 16, 1))
  # A flat image has no edges: white, away from the border where the filter sees the padding.
  np.testing.assert_array_equal(pair['input'][1:-1, 1:-1], 1.0)


def test_pair_errors_are_one_line():
  config = _data_cfg(pairs='aligned')
  with pytest.raises(JganError, match='not an aligned pair'):
    pairs.make_pair({'image': np.zeros((8, 15, 3), np.uint8)}, config.data, (16, 16, 3),
                    np.random.default_rng(0), False)
  config = _data_cfg(pairs='features', load_size=10)
  record = {'image': np.zeros((20, 20, 3), np.uint8), 'input': np.zeros((20, 20, 3), np.uint8)}
  with pytest.raises(JganError, match='load_size=10 is below data.resolution=16'):
    pairs.make_pair(record, config.data, (16, 16, 3), np.random.default_rng(0), False)
  record['input'] = np.zeros((20, 22, 3), np.uint8)
  with pytest.raises(JganError, match='differ in size'):
    pairs.make_pair(record, _data_cfg(pairs='features').data, (16, 16, 3), np.random.default_rng(0), False)
  with pytest.raises(JganError, match="unknown data.pairs 'sideways'"):
    pairs.make_pair(record, _data_cfg(pairs='sideways').data, (16, 16, 3), np.random.default_rng(0), False)


def test_bundled_photos_hold_out_every_fourth_tile():
  train, test = photos.photo_tiles('china', 'train'), photos.photo_tiles('china', 'test')
  assert train.shape == (12, 64, 64, 3) and test.shape == (3, 64, 64, 3)
  assert not any(np.array_equal(t, h) for t in train for h in test)
  source = photos.BundledPhotos('flower_test')
  np.testing.assert_array_equal(source[4]['image'], photos.photo_tiles('flower', 'test')[1])
  assert source[4]['label'] == 1 and len(photos.BundledPhotos('train')) == 8 * len(source)
  with pytest.raises(JganError, match="not 'tulip'"):
    photos.BundledPhotos('tulip')


def test_unpaired_batches_and_fixed_held_out_examples():
  config = base_config('cyclegan')
  config.data.update(dict(name='photos', split='china_train', split_b='flower_train', eval_split='china_test',
                          eval_split_b='flower_test', resolution=16, channels=3, load_size=-1, mirror=True))
  ds = pairs.make_translation_dataset(config.data, True, global_batch=4, sub_batches=1, seed=0,
                                      input_shape=(16, 16, 3))
  batch = ds[0]
  chex.assert_shape([batch['a'], batch['b']], (1, 4, 16, 16, 3))
  # The temple photo is greyer than the flower: a check that domains come from their own photos.
  saturation = lambda x: np.mean(x.max(-1) - x.min(-1))
  assert saturation(batch['b']) > saturation(batch['a'])
  first = pairs.held_out_examples(config.data, True, 6, (16, 16, 3))
  again = pairs.held_out_examples(config.data, True, 6, (16, 16, 3))
  chex.assert_shape([first['a'], first['b']], (6, 16, 16, 3))
  np.testing.assert_array_equal(first['a'], again['a'])
  np.testing.assert_array_equal(first['b'], again['b'])


def test_folder_splits_are_subdirectories(tmp_path):
  for split, value in (('train', 0), ('val', 255)):
    (tmp_path / split).mkdir()
    image = np.full((8, 16, 3), value, np.uint8)
    Image.fromarray(image).save(tmp_path / split / 'pair.png')
  config = _data_cfg(pairs='aligned', load_size=0)
  config.data.update(dict(name='folder', folder=str(tmp_path), resolution=8, eval_split='val'))
  examples = pairs.held_out_examples(config.data, False, 1, (8, 8, 3))
  assert examples['input'].min() == 1.0  # read from val/, not train/
