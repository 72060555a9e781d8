"""StyleGAN2 (Karras et al. 2020) on scikit-learn's bundled 8x8 digits, resized to 32x32, offline on a CPU.

Config F's architecture (skip G, residual D, modulated convolutions, per-layer noise) at a small width
(channel_base 1024, at most 64 channels; w 64 through 2 mapping layers), the paper's losses and lazy
regularisers: non-saturating loss, R1 every 16 steps (gamma 0.01, StyleGAN2-ADA's 0.0002 res^2 / batch
rounded up), path lengths every 4 steps (weight 2, decay 0.01, half the batch), style mixing 0.9, Adam
lr 0.0025, betas (0, 0.99) adjusted for the lazy intervals, and an EMA of G with a half-life of 10k images.
"""
from jgan.config import base_config


def get_config():
  config = base_config('stylegan2', z_dim=64, w_dim=64, mapping_layers=2, channel_base=1024, channel_max=64)
  config.data.name = 'digits'
  config.data.resolution = 32
  config.data.channels = 1
  config.gan.r1_gamma = 0.01
  config.gan.pl_weight = 2.0
  config.gan.style_mixing = 0.9
  config.train.steps = 2000
  config.train.batch_size = 32
  config.gan.ema_decay = 0.5 ** (config.train.batch_size / 10_000)  # half-life 10k images
  config.optim.g.update(lr=0.0025, b1=0.0, b2=0.99)
  config.optim.d.update(lr=0.0025, b1=0.0, b2=0.99)
  return config
