"""BigGAN at 128x128 on ImageNet (Brock et al. 2019, Sec. 4 and Appendix B-C): the paper's settings.

G 70.4M and D 88.0M parameters at ch 96 (shared 128-d class embedding, hierarchical 120-d z in 6 chunks,
self-attention at 64x64, spectral norm in G and D), hinge loss, 2 D steps per G step, Adam (0, 0.999) with
learning rates 5e-5 (G) and 2e-4 (D), orthogonal regularisation 1e-4, an EMA generator (0.9999) from step
20,000, batch 2048. The batch is accumulated over 8 micro-batches of 256 (BigGAN-PyTorch's 8 x 256 on 8
GPUs); on a TPU pod that holds it, set --config.train.grad_accumulation=1. bf16 compute, float32 weights.

ImageNet needs a manual download: put ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar (from
https://image-net.org) in <data_dir>/downloads/manual and run, where tensorflow is installed,
  tfds build imagenet2012 --file_format=array_record --data_dir=<data_dir>
then pass --config.data.data_dir=<data_dir> if it is not ~/tensorflow_datasets. For FID and IS at each
checkpoint, convert the FID Inception weights (python -m jgan.metrics.inception --convert ...) and set
--config.eval.inception_weights. The paper trains until training collapses and reports the best
checkpoint; eval.best_metric keeps it in <workdir>/best.
"""
from jgan.config import base_config


def get_config():
  config = base_config('biggan', num_classes=1000, z_dim=120, g_ch=96, d_ch=96, shared_dim=128,
                       hierarchical_z=True, g_attention=(64,), d_attention=(64,), compute_dtype='bfloat16')
  config.data.name = 'imagenet2012'
  config.data.resolution = 128
  config.data.channels = 3
  config.data.num_threads = 16
  config.gan.loss = 'hinge'
  config.gan.n_critic = 2
  config.gan.ortho_weight = 1e-4
  config.gan.ema_decay = 0.9999
  config.gan.ema_start = 20000
  config.optim.g = dict(name='adam', lr=5e-5, b1=0.0, b2=0.999)
  config.optim.d = dict(name='adam', lr=2e-4, b1=0.0, b2=0.999)
  config.train.batch_size = 2048
  config.train.grad_accumulation = 8
  config.train.steps = 500000
  config.train.log_every = 100
  config.train.sample_every = 2000
  config.train.checkpoint_every = 2000
  config.train.keep_checkpoints = 2
  config.eval.num_samples = 10000
  return config
