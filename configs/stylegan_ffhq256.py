"""StyleGAN (Karras et al. 2019) on FFHQ at 256x256, trained at that fixed resolution (jgan's StyleGAN does
not grow progressively): mapping network of 8 layers at a 100x lower learning rate, AdaIN, per-layer noise,
style mixing 0.9, non-saturating loss with R1 (gamma 10), Adam lr 0.002, betas (0, 0.99).

TFDS has no FFHQ: put the images, resized to 256x256, in a folder and
  python train.py --config=configs/stylegan_ffhq256.py --workdir=runs/stylegan_ffhq256 --config.data.folder=DIR
"""
from jgan.config import base_config


def get_config():
  config = base_config('stylegan')
  config.data.name = 'folder'
  config.data.folder = 'datasets/ffhq256'
  config.data.resolution = 256
  config.data.channels = 3
  config.gan.r1_gamma = 10.0
  config.gan.r1_every = 1  # StyleGAN applies R1 at every D step; lazy regularisation came with StyleGAN2
  config.gan.style_mixing = 0.9
  config.train.batch_size = 32
  config.train.steps = 781_250  # 25M images
  config.gan.ema_decay = 0.999
  config.optim.g.update(lr=0.002, b1=0.0, b2=0.99)
  config.optim.d.update(lr=0.002, b1=0.0, b2=0.99)
  config.train.log_every = 500
  config.train.sample_every = 5000
  config.train.checkpoint_every = 10_000
  config.eval.num_samples = 0  # FID needs the Inception weights: set eval.inception_weights and num_samples
  return config
