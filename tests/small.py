"""Shipped configs shrunk to CI size."""
import ml_collections


def shrink(config: ml_collections.ConfigDict, data_dir: str) -> ml_collections.ConfigDict:
  """`config` made CI-sized: narrow networks, batch 8, two steps, no evaluation, data read from data_dir."""
  config.data.data_dir = data_dir
  config.train.update(steps=2, log_every=1, sample_every=2, checkpoint_every=2)
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
