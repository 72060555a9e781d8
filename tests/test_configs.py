"""Every shipped config: the offline ones train, the ones needing data or weights say how to get them."""
import glob
import os
import re

import numpy as np
import pytest

from jgan import train
from jgan.config import load_file, validate
from jgan.errors import JganError
from tests.small import shrink

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, 'configs', '*.py')))


@pytest.mark.parametrize('path', CONFIGS, ids=os.path.basename)
def test_every_config_validates_and_trains_or_explains_its_data(path, tmp_path, data_dir):
  config = load_file(path)
  validate(config)
  config = shrink(config, data_dir)
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
