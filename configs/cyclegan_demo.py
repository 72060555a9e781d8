"""CycleGAN (Zhu et al. 2017) offline, between scikit-learn's two bundled photos: china.jpg <-> flower.jpg.

Domain A is 32x32 patches of the temple photo, domain B of the flower photo, cropped at random from the
photos' 64x64 training tiles (jgan.data.photos); held-out patches come from their held-out tiles. A ResNet
generator with 3 blocks at a quarter of the paper's width, a two-layer PatchGAN, least squares, lambda 10,
identity 0.5 lambda, a pool of 50 generated images, and the learning rate decaying over the second half.
"""
from jgan.config import base_config


def get_config():
  config = base_config('cyclegan', g_width=16, d_width=16, res_blocks=3, d_layers=2)
  config.data.name = 'photos'
  config.data.split, config.data.split_b = 'china_train', 'flower_train'
  config.data.eval_split, config.data.eval_split_b = 'china_test', 'flower_test'
  config.data.resolution = 32
  config.data.channels = 3
  config.data.load_size = -1  # crops at the bundled photos' own size (their 64x64 tiles)
  config.data.mirror = True
  config.gan.loss = 'least_squares'
  config.gan.cycle_weight = 10.0
  config.gan.identity_weight = 0.5
  config.gan.pool_size = 50
  config.train.steps = 1500
  config.train.batch_size = 8
  config.optim.g.decay_fraction = config.optim.d.decay_fraction = 0.5
  config.train.sample_every = 250
  config.train.grid_size = 8
  config.eval.num_samples = 256
  config.eval.best_metric = 'cycle_l1'
  return config
