"""SRGAN (Ledig et al. 2017) offline: 4x super-resolution of 48x48 patches of scikit-learn's bundled photos.

High-resolution patches are cropped at random from the photos' training tiles (jgan.data.photos) and shrunk
to 12x12 inputs by bicubic downsampling in the pipeline (pairs='downsample'); held-out patches come from the
held-out tiles. The SRResNet has 4 residual blocks of 32 channels (the paper: 16 of 64) and adds its output
to the bicubic upsampling of the input (model.bicubic_residual, EnhanceNet's global residual: SRResNet alone
needs far longer than a CPU run to draw even bicubic's colours), at ten times the paper's learning rate. It
is pre-trained on the pixel MSE, then the adversarial term (weight 1e-3) joins while the learning rate falls
linearly to 0 (the paper lowers it tenfold for its last GAN updates). PSNR and SSIM are measured
against the bicubic upsampling of the same inputs (eval/held_out_bicubic_*).
"""
from jgan.config import base_config


def get_config():
  config = base_config('srgan', scale=4, g_width=32, res_blocks=4, d_width=16, d_dense=128,
                       bicubic_residual=True)
  config.data.name = 'photos'
  config.data.split = 'train'
  config.data.eval_split = 'test'
  config.data.pairs = 'downsample'
  config.data.resolution = 48
  config.data.channels = 3
  config.data.load_size = -1  # crops at the bundled photos' own size (their 64x64 tiles)
  config.data.mirror = True
  config.gan.loss = 'non_saturating'
  config.gan.content_loss = 'mse'
  config.gan.content_weight = 1.0
  config.gan.adversarial_weight = 1e-3
  config.gan.pretrain_steps = 1000
  config.optim.g.lr = config.optim.d.lr = 1e-3
  config.optim.g.b1 = config.optim.d.b1 = 0.9
  config.optim.g.decay_fraction = config.optim.d.decay_fraction = 1 / 3  # over the 500 GAN steps
  config.train.steps = 1500
  config.train.batch_size = 16
  config.train.sample_every = 250
  config.train.grid_size = 8
  config.eval.num_samples = 256
  config.eval.best_metric = 'psnr_set'
  return config
