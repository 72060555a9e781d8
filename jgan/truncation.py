"""The truncation trick's trade-off (Brock et al. 2019, Sec. 3.1 and Fig. 17): fidelity against variety as the
latents are truncated closer to the mode (the forms: jgan.games.latents).

  python -m jgan.truncation --workdir=runs/dcgan_digits [--form=resample|norm]
      [--thresholds=none,2,1.5,1,0.75,0.5,0.25] [--num_samples=1000] [--features=digits|inception] [--out=DIR]
prints IS, confidence, class entropy, FD, precision and recall per threshold ('none': untruncated) and writes
<workdir>/truncation_<form>.png (the metrics against the threshold) and truncation_<form>.json.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence

import jax
from absl import flags
from PIL import Image, ImageDraw

from jgan import runs
from jgan.errors import JganError, run_program
from jgan.games.latents import TRUNCATION_FORMS
from jgan.metrics import features

METRICS = ('is', 'confidence', 'class_entropy', 'fd', 'precision', 'recall')  # a sweep's columns


def sweep(run: runs.Run, thresholds: Sequence[float | None], form: str, num_samples: int,
          feature_space: str = 'digits', seed: int = 0) -> list[dict]:
  """Fidelity and variety of `run`'s samples at each truncation threshold (None or inf: no truncation).

  Every threshold draws from the same key, so the rows differ by the truncation alone (for 'resample' the
  same uniforms pass through each truncated inverse CDF). Metrics as jgan.evaluate computes them, against
  `num_samples` real training images.

  Returns:
    One row per threshold: {'threshold', 'is', 'confidence', 'class_entropy', 'fd', 'precision', 'recall'}.

  Raises:
    JganError: an unknown form or feature space, or a run whose latents are not normal.
  """
  if form not in TRUNCATION_FORMS:
    raise JganError(f"unknown truncation form {form!r}: use one of {', '.join(TRUNCATION_FORMS)}")
  config = run.config
  if config.gan.z_distribution != 'normal':
    raise JganError(f'truncation needs normal latents; this run samples z from a {config.gan.z_distribution} '
                    f'distribution')
  extractor = features.feature_extractor(feature_space, config.eval.inception_weights)
  real_feats, _ = features.real_features(extractor, feature_space, config, config.data.split, num_samples)
  sample = jax.jit(run.game.sample)
  rows = []
  for threshold in thresholds:
    if threshold is not None and not math.isfinite(threshold):
      threshold = None
    truncate = None if threshold is None else (float(threshold), form)
    inputs = run.game.sample_inputs(jax.random.key(seed), num_samples, truncate=truncate)
    fake = runs.sample_images(sample, run.state, inputs)
    metrics = features.feature_metrics(real_feats, *extractor.features_and_probs(fake))
    rows.append({'threshold': None if threshold is None else float(threshold),
                 **{name: float(metrics[name]) for name in METRICS}})
  return rows


def _ticks(lo: float, hi: float, count: int = 4) -> list[float]:
  """Round values, about `count` steps apart, from at most `lo` to at least `hi`."""
  if hi - lo < 1e-12:
    lo, hi = lo - max(abs(lo), 1.0) * 0.1, hi + max(abs(hi), 1.0) * 0.1
  raw = (hi - lo) / count
  magnitude = 10.0 ** math.floor(math.log10(raw))
  step = next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= raw * (1 - 1e-9))
  first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
  return [round(i * step, 10) for i in range(first, last + 1)]


_COLOURS = ((31, 119, 180), (214, 39, 40))  # a line's colour, by series
_GREY, _BLACK = (170, 170, 170), (0, 0, 0)


def _panel(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], title: str, rows: list[dict],
           keys: tuple[str, ...]) -> None:
  """One plot in `box` (left, top, right, bottom): `keys` of the truncated rows against their threshold,
  the untruncated row's values as dashed horizontal lines marked 'none'."""
  left, top, right, bottom = box
  x0, x1, y0, y1 = left + 48, right - 30, top + 24, bottom - 34  # the plotting area
  truncated = sorted((r for r in rows if r['threshold'] is not None), key=lambda r: r['threshold'])
  plain = [r for r in rows if r['threshold'] is None]
  values = [r[k] for r in rows for k in keys if math.isfinite(r[k])] or [0.0]
  x_ticks = _ticks(0.0, max([r['threshold'] for r in truncated], default=1.0))
  y_ticks = _ticks(min(values), max(values))
  to_x = lambda v: x0 + (v - x_ticks[0]) / (x_ticks[-1] - x_ticks[0]) * (x1 - x0)
  to_y = lambda v: y1 - (v - y_ticks[0]) / (y_ticks[-1] - y_ticks[0]) * (y1 - y0)

  # Title: one word per series, in the series' colour.
  x = left + 48
  for i, word in enumerate(title.split(' / ')):
    draw.text((x, top + 4), word, fill=_COLOURS[i % len(_COLOURS)])
    x += draw.textlength(word) + 12
  draw.rectangle((x0, y0, x1, y1), outline=_BLACK)
  for v in x_ticks:
    draw.line((to_x(v), y1, to_x(v), y1 + 4), fill=_BLACK)
    draw.text((to_x(v), y1 + 6), f'{v:g}', fill=_BLACK, anchor='ma')
  for v in y_ticks:
    draw.line((x0 - 4, to_y(v), x0, to_y(v)), fill=_BLACK)
    draw.text((x0 - 6, to_y(v)), f'{v:.4g}', fill=_BLACK, anchor='rm')
  draw.text(((x0 + x1) / 2, y1 + 20), 'threshold', fill=_BLACK, anchor='ma')
  for i, key in enumerate(keys):
    colour = _COLOURS[i % len(_COLOURS)]
    for row in plain:
      if math.isfinite(row[key]):
        for start in range(int(x0), int(x1), 8):  # dashed
          draw.line((start, to_y(row[key]), min(start + 4, x1), to_y(row[key])), fill=colour)
        draw.text((x1 + 6, to_y(row[key])), 'none', fill=_GREY, anchor='lm')
    points = [(to_x(r['threshold']), to_y(r[key])) for r in truncated if math.isfinite(r[key])]
    if len(points) > 1:
      draw.line(points, fill=colour, width=2)
    for px, py in points:
      draw.ellipse((px - 3, py - 3, px + 3, py + 3), fill=colour)


def plot_sweep(rows: list[dict], path: str, title: str = '') -> None:
  """Writes a PNG of `rows` (what `sweep` returns): Inception Score, Frechet distance, and precision and
  recall, each against the threshold."""
  panels = (('IS', ('is',)), ('FD', ('fd',)), ('precision / recall', ('precision', 'recall')))
  width, height, header = 300, 250, 24
  image = Image.new('RGB', (width * len(panels), header + height), 'white')
  draw = ImageDraw.Draw(image)
  draw.text((image.width / 2, 6), title, fill=_BLACK, anchor='ma')
  for i, (name, keys) in enumerate(panels):
    _panel(draw, (i * width, header, (i + 1) * width, header + height), name, rows, keys)
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  tmp = path + '.tmp.png'
  image.save(tmp)
  os.replace(tmp, path)


def parse_thresholds(values: Sequence[str]) -> list[float | None]:
  """'none' or 'inf' -> None (no truncation); anything else must be a positive number."""
  thresholds = []
  for value in values:
    if value.strip().lower() in ('none', 'inf'):
      thresholds.append(None)
      continue
    try:
      threshold = float(value)
    except ValueError:
      threshold = float('nan')
    if not threshold > 0:
      raise JganError(f"--thresholds: {value!r} is not a positive number or 'none'")
    thresholds.append(threshold)
  if not thresholds:
    raise JganError('--thresholds: give at least one threshold')
  return thresholds


def main() -> None:
  FLAGS = flags.FLAGS
  thresholds = parse_thresholds(FLAGS.thresholds)
  run = runs.load_tool_run(FLAGS.workdir, FLAGS.step, FLAGS.inception_weights)
  feature_space = FLAGS.features or features.feature_space(run.config) or 'inception'
  rows = sweep(run, thresholds, FLAGS.form, FLAGS.num_samples, feature_space)
  title = (f'{run.config.model.name} on {run.config.data.name}, step {run.step}: {FLAGS.form} truncation, '
           f'{FLAGS.num_samples} samples, {feature_space} features')
  print(title)
  print(f"  {'threshold':>9}" + ''.join(f'  {name:>13}' for name in METRICS))
  for row in rows:
    threshold = 'none' if row['threshold'] is None else f"{row['threshold']:g}"
    print(f'  {threshold:>9}' + ''.join(f'  {row[name]:>13.4g}' for name in METRICS))
  base = os.path.join(FLAGS.out or FLAGS.workdir, f'truncation_{FLAGS.form}')
  plot_sweep(rows, base + '.png', title)
  with open(base + '.json', 'w') as f:
    json.dump({'step': run.step, 'form': FLAGS.form, 'num_samples': FLAGS.num_samples, 'features': feature_space,
               'rows': rows}, f, indent=2)
  print(f'wrote {base}.png and {base}.json')


if __name__ == '__main__':
  runs.define_run_flags('--workdir')
  flags.DEFINE_enum('form', 'resample', list(TRUNCATION_FORMS), 'How latents are truncated.')
  flags.DEFINE_list('thresholds', ['none', '2', '1.5', '1', '0.75', '0.5', '0.25'],
                    "Truncation thresholds, comma-separated ('none': no truncation).")
  flags.DEFINE_integer('num_samples', 1000, 'Generated images per threshold (and at most as many real ones).')
  flags.DEFINE_enum('features', None, list(features.FEATURES), "Feature space (default: as jgan.evaluate "
                    "chooses).")
  flags.DEFINE_string('inception_weights', None, 'Converted FID Inception weights (.npz).')
  run_program(main)
