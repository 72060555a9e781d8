"""DCGAN on TFDS mnist at 32x32 (needs `tfds build mnist --file_format=array_record` once, with network)."""
from jgan.config import base_config


def get_config():
  config = base_config('dcgan')
  config.data.name = 'mnist'
  config.data.resolution = 32
  config.data.channels = 1
  config.train.steps = 20000
  config.train.checkpoint_every = 2000
  config.train.sample_every = 1000
  config.eval.num_samples = 0  # The digits Frechet distance is for the bundled 8x8 digits only.
  return config
