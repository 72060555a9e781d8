"""Every shipped config: the offline ones train, the ones needing data or weights say how to get them."""
import glob
import os
import re

import numpy as np
import pytest

from jgan import train
from jgan.config import load_file, validate
from jgan.errors import JganError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, 'configs', '*.py')))


def _shrunk(config, data_dir):
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


@pytest.mark.parametrize('path', CONFIGS, ids=os.path.basename)
def test_every_config_validates_and_trains_or_explains_its_data(path, tmp_path, data_dir):
  config = load_file(path)
  validate(config)
  config = _shrunk(config, data_dir)
  if config.data.name in ('digits', 'photos'):  # the data that packages ship
    metrics = train.run(config, str(tmp_path))
    assert metrics and all(np.isfinite(v) for v in metrics.values())
    return
  if config.gan.content_loss == 'vgg' and config.model.name == 'srgan':
    needs = "there are no VGG19 weights at vgg19.npz: convert torchvision's vgg19-dcbb9e9d.pth"
  elif config.data.name == 'folder':
    needs = f'image folder {config.data.folder!r} does not exist'
  else:
    needs = f'tfds build {config.data.name} --file_format=array_record'
  with pytest.raises(JganError, match=re.escape(needs)):
    train.run(config, str(tmp_path))
