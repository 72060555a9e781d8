"""CycleGAN (Zhu et al. 2017) on horse2zebra from TFDS (cycle_gan/horse2zebra: trainA horses, trainB zebras).

On a machine with network and tensorflow: tfds build cycle_gan/horse2zebra --file_format=array_record.
The paper's setting (Sec. 7.1): 256x256 crops of images resized to 286, mirrored; the ResNet generator with
9 blocks, 70x70 PatchGANs, least squares, lambda 10, identity 0.5 lambda, a pool of 50, batch 1, Adam 2e-4 /
0.5 for 100 epochs and a linear decay to 0 over 100 more (an epoch here is the 1,067 horses).
"""
from jgan.config import base_config


def get_config():
  config = base_config('cyclegan', res_blocks=9)
  config.data.name = 'cycle_gan/horse2zebra'
  config.data.split, config.data.split_b = 'trainA', 'trainB'
  config.data.eval_split, config.data.eval_split_b = 'testA', 'testB'
  config.data.label_key = ''
  config.data.resolution = 256
  config.data.channels = 3
  config.data.load_size = 286
  config.data.mirror = True
  config.gan.loss = 'least_squares'
  config.train.steps = 213_400  # 200 epochs x 1,067 images at batch 1
  config.train.batch_size = 1
  config.optim.g.decay_fraction = config.optim.d.decay_fraction = 0.5
  config.train.log_every = 500
  config.train.sample_every = 5000
  config.train.checkpoint_every = 10_000
  config.eval.num_samples = 120  # the test horses and zebras
  config.eval.best_metric = 'cycle_l1'
  return config
