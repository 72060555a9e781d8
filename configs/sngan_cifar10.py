"""SNGAN with a projection discriminator on TFDS cifar10 (32x32 RGB, 10 classes).

The ResNets of Miyato et al. 2018 (G 256 channels, D 128), conditioned as Miyato and Koyama 2018 do:
per-class BatchNorm gains and biases in G, the projection head in D. Hinge loss, 5 D steps per G step,
Adam (2e-4, 0, 0.9), batch 64, 50k generator updates (Miyato et al. 2018, Table 1, setting C / Sec. 4.2).
"""
from jgan.config import base_config


def get_config():
  config = base_config('sngan', num_classes=10)
  config.data.name = 'cifar10'
  config.data.resolution = 32
  config.data.channels = 3
  config.gan.loss = 'hinge'
  config.gan.n_critic = 5
  config.optim.g = dict(name='adam', lr=2e-4, b1=0.0, b2=0.9)
  config.optim.d = dict(name='adam', lr=2e-4, b1=0.0, b2=0.9)
  config.train.steps = 50000
  config.train.checkpoint_every = 5000
  config.train.sample_every = 1000
  config.eval.num_samples = 10000  # with eval.inception_weights set: FID and IS at every checkpoint
  return config
