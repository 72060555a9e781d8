"""The 2014 GAN (Goodfellow et al. 2014): MLP generator, maxout + dropout discriminator, on the digits.

The minimax loss of eq. 1 with the non-saturating generator objective the paper recommends in Sec. 3
(set gan.loss='minimax' for the saturating one), k = 1 discriminator step per generator step as in the
paper's experiments, uniform noise, SGD with momentum replaced by Adam for a CPU-sized run.
"""
from jgan.config import base_config


def get_config():
  config = base_config('mlp', g_hidden=(512, 512), d_hidden=(240, 240))
  config.data.resolution = 32
  config.gan.loss = 'non_saturating'
  config.gan.n_critic = 1
  config.gan.z_distribution = 'uniform'
  config.optim.g.lr = config.optim.d.lr = 2e-4
  config.train.steps = 3000
  config.train.batch_size = 100
  return config
