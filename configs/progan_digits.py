"""Progressive growing (Karras et al. 2018) on scikit-learn's bundled 8x8 digits, resized to 32x32: from 4x4 up
to 32x32 in four levels, offline on a CPU.

The paper's recipe at a small width (fmap_base 512, at most 128 channels; z 64): equalised learning rate,
pixelwise normalisation, minibatch standard deviation, WGAN-GP (lambda 10) with the drift term 0.001 E[D(x)^2],
Adam (lr 0.001, betas 0 and 0.99), an EMA of G (0.999); each new level fades in over 6,400 images and trains
stably for 6,400 (the paper: 600k each), with larger batches at the cheap low resolutions.
"""
from jgan.config import base_config
from jgan.games.growing import steps_for_images


def get_config():
  config = base_config('progan', z_dim=64, fmap_base=512, fmap_max=128)
  config.data.name = 'digits'
  config.data.resolution = 32
  config.data.channels = 1
  config.gan.loss = 'wasserstein'
  config.gan.gp_weight = 10.0
  config.gan.drift_weight = 0.001
  config.gan.ema_decay = 0.999
  config.grow.stable_images = 6400
  config.grow.fade_images = 6400
  config.grow.batch_sizes = (64, 64, 32, 32)
  config.train.batch_size = 32
  config.optim.g.update(lr=0.001, b1=0.0, b2=0.99)
  config.optim.d.update(lr=0.001, b1=0.0, b2=0.99)
  config.train.steps = steps_for_images(config, 64_000)  # 12,800 images per level, then the rest at 32x32
  return config
