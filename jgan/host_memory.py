"""Host memory for XLA's CPU backend: keep freed memory in the process rather than returning it to the OS."""
from __future__ import annotations

import ctypes
import sys

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8


def retain_freed_memory() -> bool:
  """Makes glibc's malloc keep freed memory for reuse; call it before JAX starts its threads.

  XLA's CPU backend allocates each step's temporary buffers in one block (316 MiB for the 64x64 RGB DCGAN
  step) and frees it after the step. glibc serves a block over 32 MiB with mmap (from a thread other than the
  main one, over 64 MiB always) and unmaps it on free, so every step page-faults it back in: 81,000 faults and
  140 ms of system time per step there. One arena, no mmap and no trimming make the freed block reusable:
  660 -> 602 ms per step. The cost is one arena for every thread: steps whose buffers fit under glibc's
  thresholds anyway lose to the contention (the default digits DCGAN, 24 MiB: 17 -> 21 ms), hence
  train.py's --retain_host_memory is off by default. Equivalent to starting Python with MALLOC_ARENA_MAX=1
  MALLOC_MMAP_MAX_=0 and an unlimited MALLOC_TRIM_THRESHOLD_. Linux with glibc only; returns whether it applied.
  """
  if not sys.platform.startswith('linux'):
    return False
  try:
    mallopt = ctypes.CDLL('libc.so.6').mallopt
  except (OSError, AttributeError):  # musl and other C libraries have no mallopt
    return False
  # mallopt takes an int: -1 is SIZE_MAX as glibc stores the trim threshold, i.e. never trim.
  return all(mallopt(param, value) == 1 for param, value in
             ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, -1)))
