"""StyleGAN2 config F (Karras et al. 2020) on FFHQ at 1024x1024: G 30,370,060 and D 29,012,513 parameters,
batch 32, R1 gamma 10 every 16 steps, path lengths every 4 (weight 2), lr 0.002, EMA half-life 10k images.

TFDS has no FFHQ: put the 70,000 1024x1024 images in a folder and
  python train.py --config=configs/stylegan2_ffhq1024.py --workdir=runs/ffhq1024 --config.data.folder=DIR
"""
from jgan.config import base_config


def get_config():
  config = base_config('stylegan2')
  config.data.name = 'folder'
  config.data.folder = 'datasets/ffhq1024'
  config.data.resolution = 1024
  config.data.channels = 3
  # StyleGAN2-ADA's mixed precision (num_fp16_res 4, conv_clamp 256), in bfloat16
  config.model.update(num_bf16_res=4, conv_clamp=256.0)
  config.gan.r1_gamma = 10.0
  config.gan.pl_weight = 2.0
  config.train.batch_size = 32
  config.train.steps = 781_250  # 25M images
  config.gan.ema_decay = 0.5 ** (config.train.batch_size / 10_000)
  config.optim.g.update(lr=0.002, b1=0.0, b2=0.99)
  config.optim.d.update(lr=0.002, b1=0.0, b2=0.99)
  config.train.log_every = 500
  config.train.sample_every = 5000
  config.train.checkpoint_every = 10_000
  config.eval.num_samples = 0  # FID needs the Inception weights: set eval.inception_weights and num_samples
  return config
