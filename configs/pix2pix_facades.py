"""Pix2Pix (Isola et al. 2017) on CMP Facades, labels -> photo, as the paper trains it (Sec. 6.2, Appendix 6.1).

TFDS has no facades dataset: download pix2pix's facades.tar.gz (the aligned format, photo | labels side by side
in each 512x256 image, folders train/ val/ test/) and point data.folder at it, e.g.
  python train.py --config=configs/pix2pix_facades.py --workdir=runs/facades \
      --config.data.folder=datasets/facades
U-Net 256 and the 70x70 PatchGAN, batch 1, Adam 2e-4 / 0.5, 200 epochs of the 400 training images, the
learning rate decaying linearly to 0 over the last 100 (the reference code's n_epochs / n_epochs_decay).
"""
from jgan.config import base_config


def get_config():
  config = base_config('pix2pix', input_channels=3, norm='batch')
  config.data.name = 'folder'
  config.data.folder = 'datasets/facades'
  config.data.split = 'train'
  config.data.eval_split = 'val'
  config.data.pairs = 'aligned'
  config.data.direction = 'BtoA'  # labels (the right half) -> photo
  config.data.resolution = 256
  config.data.channels = 3
  config.data.load_size = 286
  config.data.mirror = True
  config.gan.loss = 'non_saturating'
  config.gan.content_loss = 'l1'
  config.gan.content_weight = 100.0
  config.train.steps = 80_000  # 200 epochs x 400 images at batch 1
  config.train.batch_size = 1
  config.optim.g.decay_fraction = config.optim.d.decay_fraction = 0.5
  config.train.log_every = 400
  config.train.sample_every = 4000
  config.train.checkpoint_every = 8000
  config.eval.num_samples = 100  # the validation split
  config.eval.best_metric = 'l1'
  return config
