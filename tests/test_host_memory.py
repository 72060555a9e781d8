"""jgan.host_memory: glibc keeps freed blocks for reuse once told so (train.py --retain_host_memory), and backs
the blocks it maps with huge pages after run_with_huge_pages (train.py, by default): far fewer page faults for a
block allocated, used and freed again, as XLA's CPU backend does with each step's temporary buffers."""
import os
import subprocess
import sys

import pytest

from jgan.host_memory import _glibc_version, _transparent_huge_pages_mode, accelerator_expected, huge_pages_environment

_PROBE = '''
import ctypes, os, resource, sys
from jgan import host_memory
if sys.argv[1] == 'huge':
  host_memory.run_with_huge_pages()  # runs this probe again, with GLIBC_TUNABLES set
applied = host_memory.retain_freed_memory() if sys.argv[1] == 'retain' else os.environ.get('GLIBC_TUNABLES', '-')
libc = ctypes.CDLL('libc.so.6')
libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]

def use_and_free(size=64 * 2**20):  # as XLA's CPU runtime does with a step's temporary buffer
  block = libc.malloc(size)
  ctypes.memset(block, 1, size)
  libc.free(block)

use_and_free()  # the first use faults either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
  use_and_free()
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
'''
_PAGES = 5 * 64 * 2**20 // 4096  # the 4 KiB pages of the five blocks the probe uses after its first


def _probe(mode: str, tunables: str | None = None) -> tuple[str, int]:
  """(what the probe applied, its page faults); tunables: GLIBC_TUNABLES for it (none by default)."""
  environ = {key: value for key, value in os.environ.items() if key != 'GLIBC_TUNABLES'}
  if tunables:
    environ['GLIBC_TUNABLES'] = tunables
  out = subprocess.run([sys.executable, '-c', _PROBE, mode], capture_output=True, text=True, check=True,
                       env=environ).stdout
  applied, faults = out.split()
  return applied, int(faults)


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc malloc settings')
def test_retained_memory_is_reused_without_page_faults():
  applied, retained_faults = _probe('retain')
  _, default_faults = _probe('default')
  assert applied == 'True'
  assert default_faults > 0.9 * _PAGES  # glibc unmapped each 64 MiB block and faulted it in again
  assert retained_faults < 0.01 * _PAGES


def test_huge_pages_environment_adds_the_tunable_once_and_only_where_it_applies():
  add = huge_pages_environment({'PATH': '/bin'}, (2, 36), 'madvise')
  assert add == {'PATH': '/bin', 'GLIBC_TUNABLES': 'glibc.malloc.hugetlb=1'}
  kept = huge_pages_environment({'GLIBC_TUNABLES': 'glibc.malloc.arena_max=2'}, (2, 35), 'always')
  assert kept == {'GLIBC_TUNABLES': 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1'}
  assert huge_pages_environment(add, (2, 36), 'madvise') is None  # after the re-execution: no loop
  assert huge_pages_environment({'GLIBC_TUNABLES': 'glibc.malloc.hugetlb=0'}, (2, 36), 'madvise') is None  # opt-out
  assert huge_pages_environment({}, (2, 34), 'madvise') is None  # glibc before the tunable
  assert huge_pages_environment({}, None, 'madvise') is None  # not glibc
  assert huge_pages_environment({}, (2, 36), 'never') is None  # the kernel's THP off
  assert huge_pages_environment({}, (2, 36), None) is None  # no THP (not Linux)
  assert huge_pages_environment({}, (2, 36), 'madvise', accelerator=True) is None  # measured on XLA's CPU only


def test_an_accelerator_is_told_from_jax_platforms_or_the_device_files():
  devices = lambda found: lambda pattern: [pattern] if pattern in found else []
  assert not accelerator_expected({}, devices(()))
  assert accelerator_expected({}, devices(('/dev/nvidiactl',)))
  assert accelerator_expected({}, devices(('/dev/accel[0-9]*',)))  # a TPU VM
  assert accelerator_expected({}, devices(('/dev/vfio/[0-9]*',)))  # a TPU v5e/v6e VM
  assert not accelerator_expected({'JAX_PLATFORMS': 'cpu'}, devices(('/dev/nvidiactl',)))  # JAX told to use the CPU
  assert accelerator_expected({'JAX_PLATFORMS': 'cuda,cpu'}, devices(()))


@pytest.mark.skipif(huge_pages_environment({}, _glibc_version(), _transparent_huge_pages_mode()) is None,
                    reason='needs glibc >= 2.35 and the kernel\'s transparent huge pages')
def test_run_with_huge_pages_re_executes_with_malloc_on_huge_pages():
  tunables, huge_faults = _probe('huge')
  opted_out, default_faults = _probe('huge', tunables='glibc.malloc.hugetlb=0')
  assert (tunables, opted_out) == ('glibc.malloc.hugetlb=1', 'glibc.malloc.hugetlb=0')
  assert default_faults > 0.9 * _PAGES  # 4 KiB pages: each 64 MiB block faulted in again
  # 2 MiB pages, but for the block's unaligned ends: 544 faults per block here, against 16,385
  assert huge_faults < 0.1 * _PAGES
