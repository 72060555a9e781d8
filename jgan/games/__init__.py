"""The games a model family can play, found by name as the families are: a family's GAME = 'style' plays
jgan.games.style (the default is 'adversarial', one G against one D).

A game module provides:
  CONFIG: the config keys it reads besides the common ones (jgan.config.base_config), by section: its own
    'gan' section (and ProGAN's 'grow'), and the keys it adds to 'data' and 'eval'. A config holds exactly the
    keys of its model's game, so a key that the game would ignore is an error (jgan.config.validate).
  build_game(config, image_shape) -> jgan.engine.Game: its players and the phases of one iteration.
"""
from __future__ import annotations

import importlib
from types import ModuleType

import ml_collections

from jgan import models
from jgan.engine import Game

GAMES = ('adversarial', 'paired', 'cycle', 'style', 'growing')


def game_name(model: str) -> str:
  """The game that model family `model` plays."""
  return getattr(models.get_family(model), 'GAME', 'adversarial')


def game_module(model: str) -> ModuleType:
  """The module jgan.games.<game> of model family `model`."""
  return importlib.import_module(f'jgan.games.{game_name(model)}')


def image_shape(config: ml_collections.ConfigDict) -> tuple[int, int, int]:
  """The shape [H, W, C] of the config's (real, or target) images."""
  return (config.data.resolution, config.data.resolution, config.data.channels)


def build_game(config: ml_collections.ConfigDict) -> Game:
  """The game of config.model's family, on images of the config's shape."""
  return game_module(config.model.name).build_game(config, image_shape(config))
