"""StyleGAN2 config F (Karras et al. 2020) on FFHQ at 256x256, the paper's settings where they differ by size
(StyleGAN2-ADA's 'paper256': batch 64, R1 gamma 1, lr 0.0025, mapping 8 layers, EMA half-life 20k images).

TFDS has no FFHQ: put the 70,000 images (resized to 256x256, e.g. by NVlabs' dataset_tool) in a folder and
  python train.py --config=configs/stylegan2_ffhq256.py --workdir=runs/ffhq256 --config.data.folder=DIR
"""
from jgan.config import base_config


def get_config():
  config = base_config('stylegan2', channel_base=16384)  # paper256 halves config F's width
  config.data.name = 'folder'
  config.data.folder = 'datasets/ffhq256'
  config.data.resolution = 256
  config.data.channels = 3
  # StyleGAN2-ADA's mixed precision (num_fp16_res 4, conv_clamp 256), in bfloat16
  config.model.update(num_bf16_res=4, conv_clamp=256.0)
  config.gan.r1_gamma = 1.0
  config.gan.pl_weight = 2.0
  config.train.batch_size = 64
  config.train.steps = 390_625  # 25M images
  config.gan.ema_decay = 0.5 ** (config.train.batch_size / 20_000)
  config.optim.g.update(lr=0.0025, b1=0.0, b2=0.99)
  config.optim.d.update(lr=0.0025, b1=0.0, b2=0.99)
  config.train.log_every = 500
  config.train.sample_every = 5000
  config.train.checkpoint_every = 10_000
  config.eval.num_samples = 0  # FID needs the Inception weights: set eval.inception_weights and num_samples
  return config
