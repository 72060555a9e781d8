"""Host memory for XLA's CPU backend: back large blocks with huge pages, or keep freed memory in the process."""
from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping

# glibc >= 2.35: malloc asks the kernel for transparent huge pages (madvise) for the blocks it maps.
_HUGE_PAGES_TUNABLE = 'glibc.malloc.hugetlb'
_THP_MODE_FILE = '/sys/kernel/mm/transparent_hugepage/enabled'

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
  train.py's --retain_host_memory is off by default (run_with_huge_pages, on by default, gets most of the
  gain). Equivalent to starting Python with MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 and an unlimited
  MALLOC_TRIM_THRESHOLD_. Linux with glibc only; returns whether it applied.
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


def _glibc_version() -> tuple[int, int] | None:
  try:
    name, version = os.confstr('CS_GNU_LIBC_VERSION').split()  # e.g. 'glibc 2.36'
    major, minor = version.split('.')[:2]
    return (int(major), int(minor)) if name == 'glibc' else None
  except (AttributeError, OSError, ValueError):  # not glibc (musl, macOS, Windows)
    return None


def _transparent_huge_pages_mode() -> str | None:
  """The kernel's THP mode, the bracketed word of e.g. 'always [madvise] never'."""
  try:
    with open(_THP_MODE_FILE) as modes:
      return modes.read().split('[')[1].split(']')[0]
  except (OSError, IndexError):
    return None


def huge_pages_environment(environ: Mapping[str, str], glibc_version: tuple[int, int] | None,
                           thp_mode: str | None) -> dict[str, str] | None:
  """`environ` with glibc's malloc told to use transparent huge pages, or None where that cannot apply or
  GLIBC_TUNABLES already names the setting (=1 after a re-execution, or =0: the user's way to opt out)."""
  tunables = environ.get('GLIBC_TUNABLES', '')
  if _HUGE_PAGES_TUNABLE in tunables or glibc_version is None or glibc_version < (2, 35):
    return None
  if thp_mode not in ('always', 'madvise'):
    return None
  return {**environ, 'GLIBC_TUNABLES': ':'.join(filter(None, [tunables, f'{_HUGE_PAGES_TUNABLE}=1']))}


def run_with_huge_pages() -> None:
  """Re-executes this Python program (same interpreter and arguments) with glibc's malloc backing the blocks
  it maps with 2 MiB transparent huge pages, unless it already does or cannot (see huge_pages_environment).

  glibc reads its tunables only at process start, hence the re-execution: call this first thing in a program's
  entry point, before JAX starts its threads. Each step of XLA's CPU backend maps a fresh block for its
  temporary buffers and unmaps it afterwards; with 4 KiB pages the step faults every page of it in again
  (81,000 faults for the 64x64 RGB DCGAN step's 316 MiB). With 2 MiB pages a 64 MiB block faults 544 times
  rather than 16,385 (4 KiB pages remain at its unaligned ends): the 64x64 RGB DCGAN step 663 -> 571 ms,
  StyleGAN2-256 at batch 4 9.9 -> 8.5 s, the default digits step unchanged (16-17 ms), peak memory unchanged.
  Unlike retain_freed_memory, no single arena. To opt out: GLIBC_TUNABLES=glibc.malloc.hugetlb=0.
  """
  environ = huge_pages_environment(os.environ, _glibc_version(), _transparent_huge_pages_mode())
  if environ is not None and sys.executable:  # an embedded interpreter has no executable to run again
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environ)
