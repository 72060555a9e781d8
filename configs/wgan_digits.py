"""WGAN (Arjovsky et al. 2017, Algorithm 1): critic weights clipped to [-0.01, 0.01], n_critic = 5,
RMSProp with lr 5e-5, the DCGAN architecture (BatchNorm kept in the critic, as in the paper)."""
from jgan.config import base_config


def get_config():
  config = base_config('dcgan', g_width=16, d_width=16)
  config.gan.loss = 'wasserstein'
  config.gan.n_critic = 5
  config.gan.weight_clip = 0.01
  config.optim.g = dict(name='rmsprop', lr=5e-5, b1=0.0, b2=0.0)
  config.optim.d = dict(name='rmsprop', lr=5e-5, b1=0.0, b2=0.0)
  config.train.steps = 2000
  return config
