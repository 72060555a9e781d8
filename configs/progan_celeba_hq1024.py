"""Progressive growing (Karras et al. 2018) on CelebA-HQ at 1024x1024: the reference's "v2" recipe for 8 GPUs.

G and D of 23.1M parameters each (z 512, fmap_base 8192, at most 512 channels), WGAN-GP (lambda 10) with the
drift term 0.001, Adam (0.001, betas 0 and 0.99), EMA of G 0.999, x-flips; each level fades in over 600k images
and trains for 600k, with batches 512, 256, 128, 64 at 4x4..32x32 and 32 above, the learning rate raised to
0.0015, 0.002, 0.003, 0.003 at 128..1024, for 12M images in all.

TFDS's celeb_a_hq needs a manual download (the CelebA images and the deltas of the CelebA-HQ release):
  tfds build celeb_a_hq/1024 --file_format=array_record --manual_dir=DIR   (on a machine with tensorflow)
  python train.py --config=configs/progan_celeba_hq1024.py --workdir=runs/progan_celeba_hq
Or set config.data.name='folder' and config.data.folder to a folder of the 30,000 images.
"""
from jgan.config import base_config
from jgan.games.growing import steps_for_images


def get_config():
  config = base_config('progan')
  config.data.name = 'celeb_a_hq/1024'
  config.data.label_key = ''
  config.data.resolution = 1024
  config.data.channels = 3
  config.data.mirror = True
  config.gan.loss = 'wasserstein'
  config.gan.gp_weight = 10.0
  config.gan.drift_weight = 0.001
  config.gan.ema_decay = 0.999
  config.grow.stable_images = 600_000
  config.grow.fade_images = 600_000
  config.grow.batch_sizes = (512, 256, 128, 64, 32, 32, 32, 32, 32)
  config.grow.lr_scales = (1.0, 1.0, 1.0, 1.0, 1.0, 1.5, 2.0, 3.0, 3.0)
  config.train.batch_size = 32
  config.optim.g.update(lr=0.001, b1=0.0, b2=0.99)
  config.optim.d.update(lr=0.001, b1=0.0, b2=0.99)
  config.train.steps = steps_for_images(config, 12_000_000)
  config.train.log_every = 500
  config.train.sample_every = 5000
  config.train.checkpoint_every = 10_000
  config.eval.num_samples = 0  # FID needs the Inception weights: set eval.inception_weights and num_samples
  return config
