"""The base config every `configs/*.py` starts from, and the check that names a wrong key in one line."""
from __future__ import annotations

import importlib.util
import os

import ml_collections

from jgan import models
from jgan.errors import JganError


def base_config(model: str = 'dcgan', **model_overrides) -> ml_collections.ConfigDict:
  """Every key a training config may set, with defaults; `model` picks the family (jgan.models.<model>)."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.data = dict(
      name='digits',  # 'digits' (bundled, offline), 'folder' (your images), or a TFDS name such as 'mnist'
      split='train',
      resolution=32,
      channels=1,
      data_dir='',  # TFDS data_dir; '' means TFDS's default (~/tensorflow_datasets)
      folder='',  # with name='folder': a directory of images, one subdirectory per class if labelled
      image_key='image',
      label_key='label',  # '' for unlabelled TFDS datasets
      num_threads=2,  # host threads decoding and resizing images
      # Image-to-image (jgan.data.pairs): 'photos' is scikit-learn's two bundled photos (offline patches).
      pairs='aligned',  # how a paired example forms: 'aligned', 'edges', 'downsample' or 'features'
      direction='AtoB',  # with pairs='aligned': 'AtoB' translates the left half into the right, 'BtoA' back
      input_key='',  # with pairs='features': the TFDS feature holding the input image
      load_size=0,  # > 0: resize the shorter side to this, then crop resolution x resolution at random;
      # -1: random crops at the image's own size; 0: centre crop, resized to resolution
      mirror=False,  # flip each image left-right (both images of a pair alike) with probability 1/2
      split_b='',  # unpaired (CycleGAN): domain B's split; domain A reads `split`
      eval_split='test',  # held-out examples for the image-to-image grids and metrics
      eval_split_b='',  # unpaired: domain B's held-out split
  )
  c.model = models.model_config(model, **model_overrides)
  c.gan = dict(
      loss='non_saturating',  # minimax, non_saturating, wasserstein, hinge, least_squares
      n_critic=1,  # discriminator updates per generator update (the 2014 paper's k)
      gp_weight=0.0,  # WGAN-GP lambda (10 in the paper); 0 turns the penalty off
      weight_clip=0.0,  # WGAN's c (0.01 in the paper); 0 turns clipping off
      z_distribution='normal',  # or 'uniform' on [-1, 1]
      ema_decay=0.0,  # EMA of generator weights used for sampling; 0 turns it off
      ema_start=0,
      ortho_weight=0.0,  # BigGAN's orthogonal regularisation beta (1e-4) on G; 0 turns it off
      # Image-to-image (Pix2Pix, SRGAN: jgan.paired; CycleGAN: jgan.cycle)
      content_loss='l1',  # paired: G's distance to the target, 'l1' (Pix2Pix), 'mse' or 'vgg' (SRGAN)
      content_weight=100.0,  # Pix2Pix's lambda (100); SRGAN's is 1
      adversarial_weight=1.0,  # SRGAN's 1e-3
      vgg_weights='',  # with content_loss='vgg': VGG19 weights (python -m jgan.metrics.vgg --convert)
      pretrain_steps=0,  # paired: steps training G on the content loss alone first (SRGAN's SRResNet-MSE)
      cycle_weight=10.0,  # CycleGAN's lambda, on the cycle loss in both directions
      identity_weight=0.5,  # CycleGAN's identity loss weight, as a fraction of cycle_weight; 0: off
      pool_size=50,  # CycleGAN: generated images kept per discriminator (Shrivastava et al. 2017)
      # StyleGAN (jgan.style): lazy regularisers, each every k steps with its optimiser adjusted
      r1_gamma=0.0,  # R1 weight gamma (StyleGAN2 FFHQ 1024: 10); 0 turns it off
      r1_every=16,
      pl_weight=0.0,  # path-length regularisation weight (StyleGAN2: 2); 0 turns it off
      pl_every=4,
      pl_decay=0.01,  # of the path lengths' moving average
      pl_batch_shrink=2,  # the penalty runs on batch_size / this examples
      style_mixing=0.9,  # probability that a batch example mixes two latents' styles
      w_avg_decay=0.995,  # of the moving average of w that truncation in W pulls towards
      drift_weight=0.0,  # ProGAN's epsilon_drift (0.001): weight of E[D(x)^2] on real logits in D's loss
  )
  # Progressive growing (ProGAN, jgan.growing): from 4x4, each level fades in, then trains stably
  c.grow = dict(
      stable_images=0,  # real images per level at a fixed resolution (ProGAN: 600k); below the final level
      fade_images=0,  # real images over which a new level's alpha rises from 0 to 1 (ProGAN: 600k)
      batch_sizes=(),  # per level from 4x4 up (ProGAN's minibatch_dict); levels past the end: train.batch_size
      lr_scales=(),  # per level, multiplying optim.g.lr and optim.d.lr (ProGAN's lrate_dict); default 1
  )
  # decay_fraction > 0: the rate falls linearly to 0 over that last share of train.steps (CycleGAN: 0.5)
  c.optim = dict(
      g=dict(name='adam', lr=2e-4, b1=0.5, b2=0.999, decay_fraction=0.0),
      d=dict(name='adam', lr=2e-4, b1=0.5, b2=0.999, decay_fraction=0.0),
  )
  c.train = dict(
      steps=2000,  # generator updates
      batch_size=64,  # global batch, split over all devices
      grad_accumulation=1,  # split each batch into this many micro-batches and average their gradients
      # Iterations per compiled call (lax.scan): fewer host dispatches on a GPU/TPU. Leave 1 on the CPU, where
      # XLA runs convolutions inside a loop about 16x slower. Calls stop at logging, sampling and checkpoints.
      steps_per_call=1,
      log_every=50,
      sample_every=250,
      checkpoint_every=500,  # the digits Frechet distance is measured at every checkpoint
      keep_checkpoints=3,
      grid_size=8,  # samples form a grid_size x grid_size PNG
  )
  c.eval = dict(
      num_samples=1000,  # generated images per evaluation (at every checkpoint); 0 turns evaluation off
      features='',  # 'digits' or 'inception'; '' picks 'inception' given weights, 'digits' on the digits
      inception_weights='',  # converted FID Inception weights (python -m jgan.metrics.inception --convert)
      best_metric='fd',  # the checkpoint with the lowest value is kept in <workdir>/best
  )
  return c


def load_file(path: str) -> ml_collections.ConfigDict:
  """The config of a `configs/*.py` file (its get_config()), as train.py --config reads it.

  Raises:
    JganError: no such file, or one without get_config().
  """
  if not os.path.isfile(path):
    raise JganError(f'no config file {path!r}: pass one of configs/*.py')
  spec = importlib.util.spec_from_file_location('jgan_config_file', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, 'get_config'):
    raise JganError(f'{path} defines no get_config(): a config file returns its ConfigDict from get_config()')
  return module.get_config()


def _flat_keys(config: ml_collections.ConfigDict, prefix: str = '') -> dict[str, object]:
  keys = {}
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict) and key != 'model':
      keys.update(_flat_keys(value, f'{prefix}{key}.'))
    else:
      keys[f'{prefix}{key}'] = value
  return keys


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises a one-line JganError for a key the base config does not know, or a model key its family lacks."""
  known = _flat_keys(base_config())
  for key in _flat_keys(config):
    if key not in known:
      section = key.rpartition('.')[0]
      siblings = sorted(k.rpartition('.')[2] for k in known if k.rpartition('.')[0] == section)
      raise JganError(f"unknown config key {key!r}; keys under {section or 'the top level'!r} are "
                      f"{', '.join(siblings)}: fix the config file or the --config override")
  keys = models.defaults(config.model.name)
  unknown = sorted(set(config.model) - {'name'} - set(keys))
  if unknown:
    raise JganError(f"unknown config key 'model.{unknown[0]}' for model {config.model.name!r}; its keys "
                    f"are {', '.join(sorted(keys))}: fix the config file or the --config override")
  if config.train.batch_size < 1 or config.train.steps < 0 or config.train.steps_per_call < 1:
    raise JganError('train.batch_size and train.steps_per_call must be >= 1 and train.steps >= 0')


def eval_features(config: ml_collections.ConfigDict) -> str:
  """The feature space for evaluation: eval.features, else 'inception' given its weights, else 'digits' for
  the digits, else '' (no evaluation)."""
  if config.eval.features:
    return config.eval.features
  if config.eval.inception_weights:
    return 'inception'
  return 'digits' if config.data.name == 'digits' else ''
