"""Host memory for XLA's CPU backend: back large blocks with huge pages, or keep freed memory in the process.

XLA's CPU runtime allocates each step's temporary buffers as one block and frees it after the step; glibc maps
a block that large afresh every time and unmaps it on free, so every step page-faults all of it in again. Both
settings here cut those faults; benchmarks/README.md (changes 9 and 13) has what each bought. Neither applies
where JAX computes on a GPU or TPU.
"""
from __future__ import annotations

import ctypes
import glob
import os
import sys
from collections.abc import Callable, Mapping

# glibc >= 2.35: malloc asks the kernel for transparent huge pages (madvise) for the blocks it maps.
_HUGE_PAGES_TUNABLE = 'glibc.malloc.hugetlb'
_THP_MODE_FILE = '/sys/kernel/mm/transparent_hugepage/enabled'

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8


def retain_freed_memory() -> bool:
  """Makes glibc's malloc keep freed memory for reuse; call it before JAX starts its threads.

  glibc serves a block over 32 MiB with mmap (from a thread other than the main one, over 64 MiB always) and
  unmaps it on free; one arena, no mmap and no trimming make the freed block reusable, so a step faults nothing
  in. The cost is one arena for every thread: steps whose buffers fit under glibc's thresholds anyway lose to
  the contention, hence train.py's --retain_host_memory is off by default (run_with_huge_pages, on by default,
  gets most of the gain). Equivalent to starting Python with MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 and an
  unlimited MALLOC_TRIM_THRESHOLD_. Linux with glibc only; returns whether it applied.
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


def accelerator_expected(environ: Mapping[str, str], devices: Callable[[str], list[str]] = glob.glob) -> bool:
  """Whether JAX will compute on a GPU or TPU, told before JAX is imported: from JAX_PLATFORMS where it is set,
  else from the device files of NVIDIA and AMD GPUs (/dev/nvidiactl, /dev/kfd) and TPUs (/dev/accel*,
  /dev/vfio/N). `devices` lists the paths matching a pattern."""
  platforms = environ.get('JAX_PLATFORMS', '').strip().lower()
  if platforms:
    return platforms.split(',')[0].strip() != 'cpu'
  return any(devices(pattern) for pattern in ('/dev/nvidiactl', '/dev/kfd', '/dev/accel[0-9]*', '/dev/vfio/[0-9]*'))


def huge_pages_environment(environ: Mapping[str, str], glibc_version: tuple[int, int] | None,
                           thp_mode: str | None, accelerator: bool = False) -> dict[str, str] | None:
  """`environ` with glibc's malloc told to use transparent huge pages, or None where that cannot apply, where
  JAX computes on an accelerator (measured to help XLA's CPU steps only), or where GLIBC_TUNABLES already names
  the setting (=1 after a re-execution, or =0: the user's way to opt out)."""
  tunables = environ.get('GLIBC_TUNABLES', '')
  if accelerator or _HUGE_PAGES_TUNABLE in tunables or glibc_version is None or glibc_version < (2, 35):
    return None
  if thp_mode not in ('always', 'madvise'):
    return None
  return {**environ, 'GLIBC_TUNABLES': ':'.join(filter(None, [tunables, f'{_HUGE_PAGES_TUNABLE}=1']))}


def run_with_huge_pages() -> None:
  """Re-executes this Python program (same interpreter and arguments) with glibc's malloc backing the blocks
  it maps with 2 MiB transparent huge pages, unless it already does or cannot, or JAX will compute on a GPU or
  TPU (see huge_pages_environment).

  glibc reads its tunables only at process start, hence the re-execution: call this first thing in a program's
  entry point, before JAX starts its threads. With 2 MiB pages, XLA's fresh temporary block of each CPU step
  faults in a few hundred times where 4 KiB pages took tens of thousands. Unlike retain_freed_memory, no single
  arena. To opt out: GLIBC_TUNABLES=glibc.malloc.hugetlb=0.
  """
  environ = huge_pages_environment(os.environ, _glibc_version(), _transparent_huge_pages_mode(),
                                   accelerator_expected(os.environ))
  if environ is not None and sys.executable:  # an embedded interpreter has no executable to run again
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environ)
