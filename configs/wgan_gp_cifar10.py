"""WGAN-GP on TFDS cifar10 (32x32 RGB): the DCGAN critic without BatchNorm, lambda 10, n_critic 5,
Adam (1e-4, 0.5, 0.9), batch 64, as in Gulrajani et al. 2017."""
from jgan.config import base_config


def get_config():
  config = base_config('dcgan', d_norm='none')
  config.data.name = 'cifar10'
  config.data.resolution = 32
  config.data.channels = 3
  config.gan.loss = 'wasserstein'
  config.gan.n_critic = 5
  config.gan.gp_weight = 10.0
  config.optim.g = dict(name='adam', lr=1e-4, b1=0.5, b2=0.9)
  config.optim.d = dict(name='adam', lr=1e-4, b1=0.5, b2=0.9)
  config.train.steps = 100000
  config.train.checkpoint_every = 5000
  config.train.sample_every = 1000
  config.eval.num_samples = 0
  return config
