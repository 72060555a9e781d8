"""SRGAN (Ledig et al. 2017) at 4x on DIV2K's high-resolution images from TFDS (div2k/bicubic_x4, 'hr').

On a machine with network and tensorflow: tfds build div2k/bicubic_x4 --file_format=array_record.
As the paper trains it (Sec. 3.2): 96x96 high-resolution crops (at the images' own size), their 24x24
bicubic downsamplings as inputs, batch 16, Adam 1e-4 / 0.9; SRResNet on the MSE for 10^6 updates, then
10^5 GAN updates with the VGG54 content loss and adversarial weight 1e-3. (The paper trains 10^5 more at
learning rate 1e-5; here the rate stays 1e-4.) gan.vgg_weights needs torchvision's VGG19 converted:
  python -m jgan.metrics.vgg --convert=vgg19-dcbb9e9d.pth --out=vgg19.npz
"""
from jgan.config import base_config


def get_config():
  config = base_config('srgan', scale=4)
  config.data.name = 'div2k/bicubic_x4'
  config.data.image_key = 'hr'
  config.data.label_key = ''
  config.data.split = 'train'
  config.data.eval_split = 'validation'
  config.data.pairs = 'downsample'
  config.data.resolution = 96
  config.data.channels = 3
  config.data.load_size = -1
  config.data.mirror = True
  config.gan.loss = 'non_saturating'
  config.gan.content_loss = 'vgg'
  config.gan.vgg_weights = 'vgg19.npz'
  config.gan.content_weight = 1.0
  config.gan.adversarial_weight = 1e-3
  config.gan.pretrain_steps = 1_000_000
  config.optim.g.lr = config.optim.d.lr = 1e-4
  config.optim.g.b1 = config.optim.d.b1 = 0.9
  config.train.steps = 1_100_000
  config.train.batch_size = 16
  config.train.log_every = 1000
  config.train.sample_every = 10_000
  config.train.checkpoint_every = 20_000
  config.eval.num_samples = 100
  config.eval.best_metric = 'psnr'
  return config
