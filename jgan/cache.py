"""Where jgan keeps what it computes once per machine: the digits classifier, dataset feature statistics."""
from __future__ import annotations

import os


def cache_dir() -> str:
  """$JGAN_CACHE_DIR if set, else ~/.cache/jgan."""
  return os.environ.get('JGAN_CACHE_DIR') or os.path.join(os.path.expanduser('~'), '.cache', 'jgan')
