"""BigGAN on TFDS cifar10 (32x32 RGB, 10 classes), as BigGAN-PyTorch's CIFAR script trains it.

ch 64 (256 channels throughout G and D), shared embedding and hierarchical z, no attention at this size,
hinge loss, 4 D steps per G step, Adam (2e-4, 0, 0.999) for both, batch 64 (the script's 50 does not
split over 8 devices), and an EMA generator from step 1,000.
"""
from jgan.config import base_config


def get_config():
  config = base_config('biggan', num_classes=10, z_dim=128, g_ch=64, d_ch=64, g_attention=(), d_attention=())
  config.data.name = 'cifar10'
  config.data.resolution = 32
  config.data.channels = 3
  config.gan.loss = 'hinge'
  config.gan.n_critic = 4
  config.gan.ema_decay = 0.9999
  config.gan.ema_start = 1000
  config.optim.g = dict(name='adam', lr=2e-4, b1=0.0, b2=0.999)
  config.optim.d = dict(name='adam', lr=2e-4, b1=0.0, b2=0.999)
  config.train.steps = 500000
  config.train.checkpoint_every = 5000
  config.train.sample_every = 1000
  config.eval.num_samples = 10000  # with eval.inception_weights set: FID and IS at every checkpoint
  return config
