"""A small BigGAN (Brock et al. 2019) on the bundled digits at 32x32, offline on a CPU.

Every BigGAN ingredient at a width the digits need: shared class embedding, hierarchical z, conditional
BatchNorm, self-attention at 16x16, spectral norm in G and D, projection D, hinge loss, 2 D steps per G
step, Adam (0, 0.999), orthogonal regularisation and an EMA generator. Learning rates are BigGAN-PyTorch's
batch-256 settings (1e-4 and 4e-4) rather than the paper's batch-2048 ones, for a short run.
"""
from jgan.config import base_config


def get_config():
  config = base_config('biggan', num_classes=10, z_dim=64, g_ch=8, d_ch=8, shared_dim=32,
                       g_attention=(16,), d_attention=(16,))
  config.data.name = 'digits'
  config.data.resolution = 32
  config.data.channels = 1
  config.gan.loss = 'hinge'
  config.gan.n_critic = 2
  config.gan.ortho_weight = 1e-4
  config.gan.ema_decay = 0.999
  config.optim.g = dict(name='adam', lr=1e-4, b1=0.0, b2=0.999)
  config.optim.d = dict(name='adam', lr=4e-4, b1=0.0, b2=0.999)
  config.train.steps = 2000
  config.train.batch_size = 64
  return config
