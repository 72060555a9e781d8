"""What the tests share: the repository's paths, shipped configs shrunk to CI size, tiny configs, a run's
metrics by step, and upfirdn2d's definition."""
import json
import os

import jax.numpy as jnp
import ml_collections
import numpy as np
from jax import lax

from jgan.config import base_config, load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def config_file(name: str) -> str:
  """The path of configs/<name>.py."""
  return os.path.join(ROOT, 'configs', f'{name}.py')


def shipped(name: str) -> ml_collections.ConfigDict:
  """The config of configs/<name>.py."""
  return load_file(config_file(name))


def shrink(config: ml_collections.ConfigDict, data_dir: str) -> ml_collections.ConfigDict:
  """`config` made CI-sized: narrow networks, batch 8, one step (every phase of the game active: one compilation),
  no evaluation, data read from data_dir."""
  config.data.data_dir = data_dir
  config.train.update(steps=1, log_every=1, sample_every=1, checkpoint_every=1)
  config.eval.num_samples = 0
  for key in ('g_width', 'd_width', 'g_ch', 'd_ch'):
    if key in config.model:
      config.model[key] = 4 if 'width' in key else 8
  fmap_base = max(128, config.data.resolution // 2)  # ProGAN's networks need a channel at the final resolution
  for key, value in (('channel_base', 128), ('channel_max', 16), ('fmap_base', fmap_base), ('fmap_max', 16)):
    if key in config.model:
      config.model[key] = value
  for key in ('g_hidden', 'd_hidden'):
    if key in config.model:
      config.model[key] = (16,)
  config.train.batch_size = 8
  return config


def tiny_progan(data_dir: str, **grow) -> ml_collections.ConfigDict:
  """ProGAN at 16x16 (levels 0, 1, 2) small enough to compile in seconds."""
  config = base_config('progan', z_dim=8, fmap_base=32, fmap_max=16)
  config.data.update(data_dir=data_dir, resolution=16)
  config.gan.update(loss='wasserstein', gp_weight=10.0, drift_weight=0.001, ema_decay=0.9)
  config.grow.update(stable_images=32, fade_images=48, batch_sizes=(16, 16, 8), **grow)
  config.train.update(batch_size=8, steps=12, log_every=1, sample_every=100, checkpoint_every=100, grid_size=2)
  config.optim.g.update(lr=0.001, b1=0.0, b2=0.99)
  config.optim.d.update(lr=0.001, b1=0.0, b2=0.99)
  config.eval.num_samples = 0
  return config


def metrics_by_step(workdir) -> dict[int, dict[str, float]]:
  """The rows of <workdir>/metrics.jsonl by step, without the throughput (which differs run to run)."""
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    rows = [json.loads(line) for line in f]
  return {row['step']: {k: v for k, v in row.items() if k != 'images_per_second'} for row in rows}


def upfirdn(x, up=1, down=1, pad=(0, 0), gain=1.0):
  """upfirdn2d's definition with the [1, 3, 3, 1] filter: insert up - 1 zeros after each pixel, zero-pad by
  pad (before, after), filter with the normalised 4x4 filter times gain, keep every down-th pixel."""
  channels = x.shape[-1]
  taps = np.array([1.0, 3.0, 3.0, 1.0])
  kernel = np.broadcast_to((np.outer(taps, taps) / 64 * gain)[:, :, None, None], (4, 4, 1, channels))
  padding = ((pad[0], pad[1] + up - 1),) * 2  # lhs_dilation leaves out the zeros after the last pixel
  return lax.conv_general_dilated(x, jnp.asarray(kernel, x.dtype), (down, down), padding, lhs_dilation=(up, up),
                                  dimension_numbers=('NHWC', 'HWIO', 'NHWC'), feature_group_count=channels)
