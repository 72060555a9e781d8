"""DCGAN at 64x64 RGB on TFDS celeb_a (centre-cropped, as in Radford et al. 2016). TFDS's celeb_a needs its
files placed manually and `tfds build celeb_a --file_format=array_record`, with network and tensorflow."""
from jgan.config import base_config


def get_config():
  config = base_config('dcgan')
  config.data.name = 'celeb_a'
  config.data.label_key = ''
  config.data.resolution = 64
  config.data.channels = 3
  config.gan.ema_decay = 0.999
  config.train.steps = 50000
  config.train.batch_size = 128
  config.train.checkpoint_every = 5000
  config.train.sample_every = 1000
  config.eval.num_samples = 0
  return config
