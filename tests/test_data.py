"""The input pipeline on the bundled digits and on a folder of images, and its one-line errors."""
import subprocess
import sys

import chex
import jax
import numpy as np
import pytest
from PIL import Image

from jgan import sharding
from jgan.config import base_config
from jgan.data import pipeline
from jgan.data.digits import load_digits_arrays
from jgan.errors import JganError


@pytest.fixture
def data_cfg(data_dir):
  config = base_config().data
  config.data_dir = data_dir
  return config


def test_digits_come_through_tfds_with_their_labels(data_cfg):
  source, num_classes = pipeline.make_source(data_cfg)
  images, labels = load_digits_arrays('train')
  assert num_classes == 10 and len(source) == len(labels) == 1497
  records = [source[i] for i in range(len(source))]
  np.testing.assert_array_equal(np.bincount([r['label'] for r in records]), np.bincount(labels))
  # The same images, in TFDS's own (key-hashed) order.
  assert sorted(r['image'].tobytes() for r in records) == sorted(i.tobytes() for i in images)


def test_batches_are_scaled_resized_and_split_into_sub_batches(data_cfg):
  ds, num_classes = pipeline.make_dataset(data_cfg, global_batch=16, sub_batches=3, seed=0)
  batch = ds[0]
  chex.assert_shape(batch['image'], (3, 16, 32, 32, 1))
  chex.assert_shape(batch['label'], (3, 16))
  chex.assert_type([batch['image'], batch['label']], [np.float32, np.int32])
  assert batch['image'].min() >= -1.0 and batch['image'].max() <= 1.0
  assert batch['image'].min() == -1.0 and batch['image'].max() > 0.9  # background and ink both present


def test_shuffle_is_seeded_and_new_each_epoch(data_cfg):
  ds_a, _ = pipeline.make_dataset(data_cfg, global_batch=64, sub_batches=1, seed=0)
  ds_b, _ = pipeline.make_dataset(data_cfg, global_batch=64, sub_batches=1, seed=0)
  ds_c, _ = pipeline.make_dataset(data_cfg, global_batch=64, sub_batches=1, seed=1)
  np.testing.assert_array_equal(ds_a[5]['image'], ds_b[5]['image'])
  assert not np.array_equal(ds_a[5]['label'], ds_c[5]['label'])
  epoch = 1497 // 64 + 1  # batches span epochs; the next epoch's first batch has a new order
  assert not np.array_equal(ds_a[0]['label'], ds_a[epoch]['label'])


def test_device_batches_resume_from_an_index(data_cfg):
  ds, _ = pipeline.make_dataset(data_cfg, global_batch=8, sub_batches=1, seed=0)
  mesh = sharding.make_mesh()
  with pipeline.DeviceBatches(ds, 7, sharding.batch_sharding(mesh)) as batches:
    first = next(batches)
  assert isinstance(first['image'], jax.Array)
  np.testing.assert_array_equal(np.asarray(first['image']), ds[7]['image'])


def _write_image(path, size, mode):
  path.parent.mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng(0)
  channels = {'L': 1, 'RGB': 3, 'RGBA': 4}[mode]
  pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
  Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode).save(path)


def test_an_image_folder_with_class_subdirectories(tmp_path, data_cfg):
  _write_image(tmp_path / 'cats' / 'a.png', (40, 30), 'RGB')
  _write_image(tmp_path / 'cats' / 'b.jpg', (20, 20), 'L')
  _write_image(tmp_path / 'dogs' / 'c.png', (10, 50), 'RGBA')
  (tmp_path / 'notes.txt').write_text('not an image')
  data_cfg.update(name='folder', folder=str(tmp_path), resolution=16, channels=3)
  source, num_classes = pipeline.make_source(data_cfg)
  assert num_classes == 2 and len(source) == 3
  ds, _ = pipeline.make_dataset(data_cfg, global_batch=3, sub_batches=1, seed=0)
  batch = ds[0]
  chex.assert_shape(batch['image'], (1, 3, 16, 16, 3))
  assert sorted(batch['label'][0].tolist()) == [0, 0, 1]


@pytest.mark.parametrize('setup, overrides, match', [
    (None, {'name': 'mnistt'}, "unknown dataset 'mnistt'"),
    (None, {'name': 'mnist'}, 'tfds build mnist --file_format=array_record'),
    (None, {'name': 'folder', 'folder': '/nonexistent/dir'}, 'does not exist'),
    ('empty', {'name': 'folder'}, 'has no images'),
])
def test_bad_datasets_get_one_line_errors(tmp_path, data_cfg, setup, overrides, match):
  if setup == 'empty':
    (tmp_path / 'empty' / 'sub').mkdir(parents=True)
    overrides = {**overrides, 'folder': str(tmp_path / 'empty')}
  if overrides['name'] == 'mnist':
    overrides = {**overrides, 'data_dir': str(tmp_path / 'no_data_here')}
  data_cfg.update(overrides)
  with pytest.raises(JganError, match=match) as error:
    pipeline.make_dataset(data_cfg, global_batch=4, sub_batches=1, seed=0)
  assert '\n' not in str(error.value)


def test_a_corrupt_image_file_and_a_wrong_shape_are_named(tmp_path, data_cfg):
  (tmp_path / 'broken.png').write_bytes(b'not a png at all')
  data_cfg.update(name='folder', folder=str(tmp_path))
  source, _ = pipeline.make_source(data_cfg)
  with pytest.raises(JganError, match='broken.png'):
    source[0]
  with pytest.raises(JganError, match=r'shape \(4, 4, 2\)'):
    pipeline.preprocess({'image': np.zeros((4, 4, 2), np.uint8), 'label': 0}, 8, 1)


def test_a_batch_larger_than_the_dataset_is_refused(tmp_path, data_cfg):
  _write_image(tmp_path / 'one.png', (8, 8), 'L')
  data_cfg.update(name='folder', folder=str(tmp_path))
  with pytest.raises(JganError, match='lower train.batch_size'):
    pipeline.make_dataset(data_cfg, global_batch=4, sub_batches=1, seed=0)


_PREPARE_DIGITS = """
import sys
from jgan.config import base_config
from jgan.data import pipeline
config = base_config().data
config.data_dir = sys.argv[1]
source, num_classes = pipeline.make_source(config)
print(len(source), num_classes)  # the last line of stdout
"""


@pytest.mark.slow
def test_two_processes_prepare_one_fresh_data_dir_at_once(tmp_path):
  # Without the lock file one of the two failed every time (TFDS's rename into a directory the other made).
  command = [sys.executable, '-c', _PREPARE_DIGITS, str(tmp_path / 'tfds')]
  processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
  results = [process.communicate() + (process.returncode,) for process in processes]
  errors = [err[-500:] for _, err, _ in results]
  assert [(out.splitlines()[-1:], rc) for out, _, rc in results] == [(['1497 10'], 0)] * 2, errors  # TFDS prints too
