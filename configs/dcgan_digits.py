"""DCGAN (Radford et al. 2016) on scikit-learn's bundled 8x8 digits, resized to 32x32: the README default.

Trains offline on a 2-core CPU in a few minutes. Widths are a quarter of the paper's (g_width 16 vs 64),
which the 1,497 tiny digits do not need.
"""
from jgan.config import base_config


def get_config():
  config = base_config('dcgan', g_width=16, d_width=16)
  config.data.name = 'digits'
  config.data.resolution = 32
  config.data.channels = 1
  config.gan.loss = 'non_saturating'
  config.gan.ema_decay = 0.999
  config.train.steps = 2000
  config.train.batch_size = 64
  return config
