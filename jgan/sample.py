"""Sample grids of a trained generator: python -m jgan.sample --workdir=runs/dcgan_digits

Writes to <workdir>/sample_step_N/ (or --out): samples.png (random samples; for a conditional model one
class per row, or only class --label), interpolation_lerp.png and interpolation_slerp.png (each row walks
from one fixed latent to another), and nearest_neighbours.png (each row: a sample, then its nearest
training images in pixel space: the memorisation check of Goodfellow et al. 2014, Fig. 2). Samples come
from the EMA generator where the run keeps one; --truncation=T samples truncated latents (jgan.truncation).
"""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

from jgan import runs
from jgan.errors import JganError, run_program
from jgan.games.latents import TRUNCATION_FORMS, class_rows, lerp, slerp
from jgan.metrics.features import real_images
from jgan.writer import save_grid


def nearest_neighbours(samples: np.ndarray, training: np.ndarray, k: int) -> np.ndarray:
  """Indices [N, k] of each sample's k nearest training images in pixel space (Euclidean)."""
  flat_s = samples.reshape(len(samples), -1).astype(np.float32)
  flat_t = training.reshape(len(training), -1).astype(np.float32)
  distances = (flat_s ** 2).sum(1)[:, None] - 2.0 * flat_s @ flat_t.T + (flat_t ** 2).sum(1)[None, :]
  return np.argsort(distances, axis=1)[:, :k]


def grid_labels(run: runs.Run, count: int, columns: int, label: int | None = None) -> np.ndarray | None:
  """Class labels for `count` samples of a conditional run in rows of `columns`: `label` everywhere if given,
  else one class per row (latents.class_rows); None for an unconditional run.

  Raises:
    JganError: a label for an unconditional run, or one outside the run's classes.
  """
  num_classes = run.game.num_classes
  if label is not None and not 0 <= label < num_classes:
    raise JganError(f'--label={label} is not a class of this run' + (
        f': use 0..{num_classes - 1}' if num_classes else f' (model {run.config.model.name!r} is unconditional)'))
  if label is not None:
    return np.full(count, label, np.int32)
  return class_rows(num_classes, count, columns)


def write_grids(run: runs.Run, out: str, rows: int = 8, steps: int = 10, neighbours: int = 5,
                label: int | None = None, truncate: tuple[float, str] | None = None) -> list[str]:
  """Writes the grids of `run` into `out`; returns their paths. `label` picks one class of a conditional
  run; `truncate` = (threshold, form) truncates the latents."""
  config = run.config
  scale = max(1, 64 // config.data.resolution)
  sample = jax.jit(run.game.sample)
  paths = []

  def save(name, images, columns):
    path = os.path.join(out, name)
    save_grid(path, images, columns, scale=scale)
    paths.append(path)

  seed = config.seed + 3
  inputs = run.game.sample_inputs(jax.random.key(seed), rows * rows, grid_labels(run, rows * rows, rows, label),
                                  truncate)
  save('samples.png', runs.sample_images(sample, run.state, inputs), rows)
  # Both ends of an interpolation share the row's class.
  ends = run.game.sample_inputs(jax.random.key(seed + 1), 2 * rows, grid_labels(run, 2 * rows, 2, label), truncate)
  if 'z' not in ends:
    raise JganError(f'model {config.model.name!r} takes no latent z to interpolate')
  t = jnp.linspace(0.0, 1.0, steps)
  for name, path_fn in (('lerp', lerp), ('slerp', slerp)):
    path = {'z': jnp.concatenate([path_fn(ends['z'][2 * r], ends['z'][2 * r + 1], t) for r in range(rows)])}
    if 'label' in ends:
      path['label'] = jnp.repeat(ends['label'][::2], steps)
    save(f'interpolation_{name}.png', runs.sample_images(sample, run.state, path), steps)
  fakes = runs.generate(run, rows, seed + 2)
  training = real_images(config, config.data.split, 1 << 30)
  index = nearest_neighbours(fakes, training, neighbours)
  save('nearest_neighbours.png', np.concatenate([np.concatenate([f[None], training[i]]) for f, i in
                                                 zip(fakes, index, strict=True)]), neighbours + 1)
  return paths


def main() -> None:
  FLAGS = flags.FLAGS
  run = runs.load_tool_run(FLAGS.workdir, FLAGS.step)
  if FLAGS.truncation is not None and not FLAGS.truncation > 0:
    raise JganError(f'--truncation={FLAGS.truncation} must be a positive threshold')
  truncate = (FLAGS.truncation, FLAGS.truncation_form) if FLAGS.truncation else None
  paths = write_grids(run, FLAGS.out or os.path.join(FLAGS.workdir, f'sample_step_{run.step}'), label=FLAGS.label,
                      truncate=truncate)
  print('\n'.join(f'wrote {path}' for path in paths))


if __name__ == '__main__':
  runs.define_run_flags('<workdir>/sample_step_N')
  flags.DEFINE_integer('label', None, 'A conditional model draws only this class (default: one class per row).')
  flags.DEFINE_float('truncation', None, 'Truncate latents at this threshold (BigGAN\'s truncation trick).')
  flags.DEFINE_enum('truncation_form', 'resample', list(TRUNCATION_FORMS), 'How latents are truncated.')
  run_program(main)
