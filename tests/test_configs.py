"""Every shipped config: the offline ones train, the ones needing data or weights say how to get them."""
import glob
import os
import re

import jax
import numpy as np
import pytest

from jgan import games, sharding, train
from jgan.config import base_config, load_file, validate
from jgan.engine import abstract_state
from jgan.errors import JganError
from tests.small import ROOT, shipped, shrink

CONFIGS = sorted(glob.glob(os.path.join(ROOT, 'configs', '*.py')))


@pytest.mark.parametrize('path', CONFIGS, ids=os.path.basename)
def test_every_config_validates_and_builds_its_game_at_full_size(path):
  # Abstractly: the full-size training state of every shipped config, no array allocated.
  config = load_file(path)
  validate(config)
  if config.gan.get('content_loss') == 'vgg':  # SRGAN's VGG54 loss reads converted weights when it is built
    with pytest.raises(JganError, match="there are no VGG19 weights at vgg19.npz: convert torchvision's"):
      games.build_game(config)
    config.gan.content_loss = 'mse'
  game = games.build_game(config)
  state = abstract_state(game, sharding.make_mesh())
  assert set(state.params) == set(game.modules) and all(x.size for x in jax.tree.leaves(state.params))


@pytest.mark.slow
@pytest.mark.parametrize('path', CONFIGS, ids=os.path.basename)
def test_every_config_validates_and_trains_or_explains_its_data(path, tmp_path, data_dir):
  config = load_file(path)
  validate(config)
  config = shrink(config, data_dir)
  if config.data.name in ('digits', 'photos'):  # the data that packages ship
    metrics = train.run(config, str(tmp_path))
    assert metrics and all(np.isfinite(v) for v in metrics.values())
    return
  if config.gan.get('content_loss') == 'vgg':
    needs = "there are no VGG19 weights at vgg19.npz: convert torchvision's vgg19-dcbb9e9d.pth"
  elif config.data.name == 'folder':
    needs = f'image folder {config.data.folder!r} does not exist'
  else:
    needs = f'tfds build {config.data.name} --file_format=array_record'
  with pytest.raises(JganError, match=re.escape(needs)):
    train.run(config, str(tmp_path))


@pytest.mark.parametrize('name, key, value, game, readers', [
    ('stylegan2_digits', 'loss', 'hinge', 'style', 'adversarial, paired, cycle, growing'),
    ('stylegan2_digits', 'n_critic', 5, 'style', 'adversarial, growing'),
    ('pix2pix_demo', 'n_critic', 5, 'paired', 'adversarial, growing'),
    ('pix2pix_demo', 'ema_decay', 0.999, 'paired', 'adversarial, style, growing'),
    ('dcgan_digits', 'r1_gamma', 10.0, 'adversarial', 'style'),
])
def test_a_key_of_another_game_is_named_with_the_game_in_play(name, key, value, game, readers):
  config = shipped(name)
  config.gan[key] = value
  with pytest.raises(JganError, match=rf"config key 'gan\.{key}' is not read by model '{config.model.name}', which "
                                      rf"plays the {game} game .* belongs to the {readers} game"):
    validate(config)


def test_each_game_reads_its_own_sections():
  # The base config of a model holds its game's sections and no other game's.
  assert 'grow' in base_config('progan') and 'grow' not in base_config('dcgan')
  assert 'split_b' in base_config('cyclegan').data and 'pairs' not in base_config('cyclegan').data
  assert 'pairs' in base_config('pix2pix').data and 'pairs' not in base_config('dcgan').data
  assert 'features' in base_config('stylegan2').eval and 'features' not in base_config('srgan').eval
  assert set(base_config('stylegan2').gan) == {'r1_gamma', 'r1_every', 'pl_weight', 'pl_every', 'pl_decay',
                                               'pl_batch_shrink', 'style_mixing', 'w_avg_decay', 'ema_decay',
                                               'ema_start'}
