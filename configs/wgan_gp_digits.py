"""WGAN-GP (Gulrajani et al. 2017, Algorithm 1): gradient penalty lambda = 10, n_critic = 5, Adam
(1e-4, 0.5, 0.9), no BatchNorm in the critic (the penalty is per example)."""
from jgan.config import base_config


def get_config():
  config = base_config('dcgan', g_width=16, d_width=16, d_norm='none')
  config.gan.loss = 'wasserstein'
  config.gan.n_critic = 5
  config.gan.gp_weight = 10.0
  config.optim.g = dict(name='adam', lr=1e-4, b1=0.5, b2=0.9)
  config.optim.d = dict(name='adam', lr=1e-4, b1=0.5, b2=0.9)
  config.train.steps = 2000
  return config
