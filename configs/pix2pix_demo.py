"""Pix2Pix (Isola et al. 2017) offline: edge maps -> 32x32 photo patches from scikit-learn's two bundled photos.

The input is the edge map of the target patch (jgan.data.pairs, pairs='edges'), so the generator learns to
colour and texture a sketch. Patches are cropped at random from the photos' 64x64 training tiles
(jgan.data.photos); held-out patches come from the held-out tiles, which training never sees.
Widths are a quarter of the paper's and the PatchGAN has two strided layers (a 34x34 receptive field) for
32x32 patches.
"""
from jgan.config import base_config


def get_config():
  config = base_config('pix2pix', input_channels=1, g_width=16, d_width=16, d_layers=2)
  config.data.name = 'photos'
  config.data.split = 'train'
  config.data.eval_split = 'test'
  config.data.pairs = 'edges'
  config.data.resolution = 32
  config.data.channels = 3
  config.data.load_size = -1  # crops at the bundled photos' own size (their 64x64 tiles)
  config.data.mirror = True
  config.gan.loss = 'non_saturating'
  config.gan.content_loss = 'l1'
  config.gan.content_weight = 100.0  # the paper's lambda
  config.train.steps = 1500
  config.train.batch_size = 16
  config.train.sample_every = 250
  config.train.grid_size = 8  # held-out examples in the input | output | target grid
  config.eval.num_samples = 256  # held-out patches scored at every checkpoint
  config.eval.best_metric = 'l1'
  return config
