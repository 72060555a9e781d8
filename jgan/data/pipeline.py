"""One input pipeline for every dataset: decode, resize to the config's resolution, scale to [-1, 1],
shuffle with a seed (a new order each epoch), batch, and put each batch on the mesh.

Random access (TFDS `data_source` over array_record files, grain `MapDataset`) makes the position a
single integer, the number of images consumed, which follows from the checkpoint's step (and, for ProGAN,
the batch size of each stage): a resumed run reads exactly the batches the uninterrupted run would have read.
"""
from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Callable

import grain
import jax
import ml_collections
import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from jgan.data.digits import SklearnDigits
from jgan.data.folder import ImageFolder
from jgan.data.photos import BundledPhotos
from jgan.errors import JganError

try:
  import fcntl
except ImportError:  # Windows: no advisory file locks, so one process per data_dir there
  fcntl = None


def _prepared_digits(data_dir: str | None) -> SklearnDigits:
  """The bundled digits as a TFDS builder, written into data_dir the first time (no network).

  Processes sharing a data_dir (two on one host, or hosts on one shared filesystem) take turns through a lock
  file: each would write the dataset, and TFDS's final rename fails in all but the first to finish."""
  builder = SklearnDigits(data_dir=data_dir, file_format='array_record')
  if builder.is_prepared():
    return builder
  os.makedirs(builder.data_dir_root, exist_ok=True)
  with open(os.path.join(builder.data_dir_root, '.sklearn_digits.lock'), 'w') as lock:
    if fcntl is not None:
      fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
    if not builder.is_prepared():
      tfds.disable_progress_bar()  # 1,797 tiny records: the bars would only clutter the training log.
      builder.download_and_prepare()
  # A builder reads the dataset's splits when made: made again, it sees what another process prepared.
  return SklearnDigits(data_dir=data_dir, file_format='array_record')


def _tfds_source(data_cfg: ml_collections.ConfigDict):
  data_dir = data_cfg.data_dir or None
  if data_cfg.name == 'digits':
    builder = _prepared_digits(data_dir)
    return builder.as_data_source(split=data_cfg.split), builder.info.features
  try:
    tfds.builder_cls(data_cfg.name.split('/')[0])  # 'cycle_gan/horse2zebra': the dataset, then its config
  except tfds.core.registered.DatasetNotFoundError:
    raise JganError(f"unknown dataset {data_cfg.name!r}: set config.data.name to 'digits', 'folder' "
                    f"(with config.data.folder) or a TFDS catalog name such as 'mnist'") from None
  builder = tfds.builder(data_cfg.name, data_dir=data_dir, file_format='array_record')
  instructions = getattr(builder, 'MANUAL_DOWNLOAD_INSTRUCTIONS', None)
  if not builder.is_prepared() and instructions:  # imagenet2012 and others TFDS cannot fetch by itself
    manual_dir = f'{builder.data_dir_root}/downloads/manual'
    raise JganError(f"dataset {data_cfg.name!r} is not prepared and needs a manual download: "
                    f"{' '.join(instructions.split())} Put the files in {manual_dir}, then on a machine "
                    f"with tensorflow run `tfds build {data_cfg.name} --file_format=array_record "
                    f"--data_dir={builder.data_dir_root} --manual_dir={manual_dir}` (or set "
                    f"config.data.data_dir to where it is prepared)")
  if not builder.is_prepared():
    raise JganError(f"dataset {data_cfg.name!r} is not prepared in {builder.data_dir_root}: on a machine with "
                    f"network and tensorflow run `tfds build {data_cfg.name} --file_format=array_record "
                    f"--data_dir={builder.data_dir_root}` (datasets with manual downloads need their files "
                    f"in <data_dir>/downloads/manual first), or set config.data.data_dir")
  return builder.as_data_source(split=data_cfg.split), builder.info.features


def make_source(data_cfg: ml_collections.ConfigDict):
  """A random-access source of {'image': uint8 HxWxC, 'label': int} (and 'input' when data.input_key names a
  second image feature) and its number of classes."""
  if data_cfg.name == 'folder':
    # A split names a subdirectory where there is one: pix2pix's facades/train, CycleGAN's horse2zebra/trainA.
    split_dir = os.path.join(data_cfg.folder, data_cfg.split) if data_cfg.folder and data_cfg.split else ''
    source = ImageFolder(split_dir if os.path.isdir(split_dir) else data_cfg.folder)
    return source, source.num_classes
  if data_cfg.name == 'photos':
    return BundledPhotos(data_cfg.split), 0
  source, features = _tfds_source(data_cfg)
  label_key = data_cfg.label_key
  num_classes = features[label_key].num_classes if label_key and label_key in features else 0
  input_key = data_cfg.get('input_key', '')  # a paired game's key (jgan.games.paired)
  for key in (data_cfg.image_key, input_key):
    if key and key not in features:
      raise JganError(f"dataset {data_cfg.name!r} has no feature {key!r}; it has {', '.join(features)}: set "
                      f"config.data.image_key (and data.input_key for pairs='features')")
  return _Renamed(source, data_cfg.image_key, label_key if num_classes else '', input_key), num_classes


def with_split(data_cfg: ml_collections.ConfigDict, split: str) -> ml_collections.ConfigDict:
  """A copy of the data config that reads `split`."""
  data_cfg = ml_collections.ConfigDict(data_cfg.to_dict())
  data_cfg.split = split
  return data_cfg


class _Renamed:
  """Presents a TFDS record as {'image', 'label'[, 'input']} whatever the dataset calls its features."""

  def __init__(self, source, image_key: str, label_key: str, input_key: str = ''):
    self._source, self._image_key, self._label_key, self._input_key = source, image_key, label_key, input_key

  def __len__(self) -> int:
    return len(self._source)

  def __getitem__(self, index: int) -> dict:
    record = self._source[index]
    renamed = {'image': record[self._image_key], 'label': record[self._label_key] if self._label_key else 0}
    if self._input_key:
      renamed['input'] = record[self._input_key]
    return renamed


def to_pil(image: np.ndarray, channels: int) -> Image.Image:
  """uint8 HxW or HxWxC -> a PIL image with `channels` (1: grey, 3: RGB) channels.

  Raises:
    JganError: not an image of 1, 3 or 4 channels.
  """
  image = np.asarray(image)
  if image.ndim == 2:
    image = image[..., None]
  if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
    raise JganError(f'got an image of shape {image.shape}; expected height x width x 1, 3 or 4 channels: '
                    f'check config.data.image_key')
  pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
  return pil.convert('L' if channels == 1 else 'RGB')


def preprocess(record: dict, resolution: int, channels: int) -> dict:
  """uint8 HxWxC (or HxW) of any size -> float32 [resolution, resolution, channels] in [-1, 1]."""
  pil = to_pil(record['image'], channels)
  width, height = pil.size
  if width != height:  # Centre square crop, as DCGAN's CelebA pipeline does.
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    pil = pil.crop((left, top, left + side, top + side))
  if pil.size != (resolution, resolution):
    pil = pil.resize((resolution, resolution), Image.BILINEAR)  # Antialiased when shrinking.
  pixels = np.asarray(pil, np.float32).reshape(resolution, resolution, channels)
  return {'image': pixels / 127.5 - 1.0, 'label': np.int32(record['label'])}


def make_dataset(data_cfg: ml_collections.ConfigDict, global_batch: int, sub_batches: int, seed: int,
                 first_image: int = 0, resolution: int | None = None) -> tuple[grain.MapDataset, int]:
  """Batches {'image': [sub_batches, b, H, W, C], 'label': [sub_batches, b]} for this process, where
  b = global_batch / process count, and the number of classes (0 if unlabelled).

  Args:
    first_image: the position in the (endless, shuffled) stream of images to start from: a growing run's
      later stage continues where the earlier one, with another batch size, stopped.
    resolution: a side below data.resolution (ProGAN's lower levels): the images are made at
      data.resolution, then average-pooled down to it, as the reference's multi-resolution records are.
  """
  source, num_classes = make_source(data_cfg)
  side, channels = data_cfg.resolution, data_cfg.channels
  factor = side // (resolution or side)

  def transform(record, rng):
    example = preprocess(record, side, channels)
    if data_cfg.mirror and rng.random() < 0.5:  # the x-flips of ProGAN's and StyleGAN's face datasets
      example['image'] = example['image'][:, ::-1]
    if factor > 1:
      pixels = example['image'].reshape(side // factor, factor, side // factor, factor, channels)
      example['image'] = pixels.mean(axis=(1, 3))
    return example

  ds = batched(source, data_cfg.name, global_batch, sub_batches, seed, transform, first_image)
  return ds, num_classes


def batched(source, name: str, global_batch: int, sub_batches: int, seed: int,
            transform: Callable[[dict, np.random.Generator], dict], first_image: int = 0) -> grain.MapDataset:
  """This process's rows of the global batches of `source`, shuffled with `seed` (a new order each epoch),
  `transform`ed with a generator seeded by the record's position in the stream (so a resumed run sees the
  same crops), from stream position `first_image`, in batches of [sub_batches, global_batch / process count,
  ...].

  Iteration i takes the stream's images i * n .. (i + 1) * n - 1 (n = sub_batches * global_batch) as
  [sub_batches, global_batch], and each process reads only its columns of that, the ones its devices hold: the
  global batch is the same whatever the number of processes, so one process of 8 devices and two of 4 train
  alike.

  Raises:
    JganError: the batch does not split over the devices, or the source is smaller than one batch.
  """
  processes, process = jax.process_count(), jax.process_index()
  if global_batch % jax.device_count():
    raise JganError(f'train.batch_size={global_batch} does not split over {jax.device_count()} devices: '
                    f'use a multiple of {jax.device_count()}')
  local_batch = global_batch // processes
  ds = grain.MapDataset.source(source)
  if len(ds) < global_batch * sub_batches:
    raise JganError(f'dataset {name!r} has {len(ds)} images, fewer than one batch of {global_batch * sub_batches}: '
                    f'lower train.batch_size')
  examples = ds.shuffle(seed=seed).repeat(None).random_map(transform, seed=seed)

  def local_example(j: int) -> dict:
    iteration, k = divmod(j, local_batch * sub_batches)
    sub, column = divmod(k, local_batch)
    return examples[first_image + (iteration * sub_batches + sub) * global_batch + process * local_batch + column]

  def to_sub_batches(batch):
    return {k: v.reshape(sub_batches, local_batch, *v.shape[1:]) for k, v in batch.items()}

  return (grain.MapDataset.range(sys.maxsize).map(local_example)
          .batch(local_batch * sub_batches, drop_remainder=True).map(to_sub_batches))


class DeviceBatches:
  """Global batches from index `start` on, assembled on the mesh, `prefetch` ahead of the train step.

  Each process contributes its local rows (jax.make_array_from_process_local_data), so the same code
  serves one CPU and a multi-host pod. Use as a context manager: closing joins the loader threads, which
  must not outlive the interpreter.
  """

  def __init__(self, ds: grain.MapDataset, start: int, sharding: jax.sharding.Sharding, num_threads: int = 2,
               prefetch: int = 2):
    self._host_iter = ds[start:].to_iter_dataset(
        grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch)).__iter__()
    self._sharding = sharding
    self._buffer: queue.Queue = queue.Queue(maxsize=prefetch)
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._produce, daemon=True)
    self._thread.start()

  def _produce(self) -> None:
    try:
      for batch in self._host_iter:
        item = jax.tree.map(lambda x: jax.make_array_from_process_local_data(self._sharding, x), batch)
        if not self._put(item):
          return
    except BaseException as error:  # Re-raised in the consumer, where it names the bad record.
      self._put(error)

  def _put(self, item) -> bool:
    while not self._stop.is_set():
      try:
        self._buffer.put(item, timeout=0.1)
        return True
      except queue.Full:
        continue
    return False

  def __iter__(self):
    return self

  def __next__(self) -> dict:
    item = self._buffer.get()
    if isinstance(item, BaseException):
      raise item
    return item

  def close(self) -> None:
    self._stop.set()
    self._thread.join()
    self._host_iter.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()
