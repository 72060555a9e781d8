"""Conditional DCGAN (Mirza and Osindero 2014) on the bundled digits at 32x32: ask for a digit, get it.

The default config's DCGAN with the one-hot class joined to z and to D's input. Offline, a few minutes on
a CPU. Sample a chosen digit with: python -m jgan.sample --workdir=runs/cgan_digits --label=7
"""
from jgan.config import base_config


def get_config():
  config = base_config('dcgan', g_width=16, d_width=16, num_classes=10)
  config.data.name = 'digits'
  config.data.resolution = 32
  config.data.channels = 1
  config.gan.loss = 'non_saturating'
  config.gan.ema_decay = 0.999
  config.train.steps = 2000
  config.train.batch_size = 64
  return config
