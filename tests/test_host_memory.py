"""jgan.host_memory: glibc keeps freed blocks for reuse once told so (train.py --retain_host_memory), and backs
the blocks it maps with huge pages after run_with_huge_pages (train.py, by default): far fewer page faults for a
block allocated, used and freed again, as XLA's CPU backend does with each step's temporary buffers."""
import os
import subprocess
import sys

import pytest

from jgan.host_memory import _glibc_version, _transparent_huge_pages_mode, huge_pages_environment

_PROBE = '''
import ctypes, resource, sys
from jgan.host_memory import retain_freed_memory
applied = retain_freed_memory() if sys.argv[1] == 'retain' else False
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


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc malloc settings')
def test_retained_memory_is_reused_without_page_faults():
  def probe(mode):
    out = subprocess.run([sys.executable, '-c', _PROBE, mode], capture_output=True, text=True, check=True).stdout
    applied, faults = out.split()
    return applied == 'True', int(faults)

  applied, retained_faults = probe('retain')
  _, default_faults = probe('default')
  assert applied
  pages = 5 * 64 * 2**20 // 4096
  assert default_faults > 0.9 * pages  # glibc unmapped each 64 MiB block and faulted it in again
  assert retained_faults < 0.01 * pages


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


_HUGE_PAGES_PROBE = _PROBE.replace('from jgan.host_memory import retain_freed_memory', """
import os
from jgan.host_memory import run_with_huge_pages
run_with_huge_pages()""").replace("applied = retain_freed_memory() if sys.argv[1] == 'retain' else False",
                                    "applied = os.environ.get('GLIBC_TUNABLES')")


@pytest.mark.skipif(huge_pages_environment({}, _glibc_version(), _transparent_huge_pages_mode()) is None,
                    reason='needs glibc >= 2.35 and the kernel\'s transparent huge pages')
def test_run_with_huge_pages_re_executes_with_malloc_on_huge_pages():
  def probe(environ):
    out = subprocess.run([sys.executable, '-c', _HUGE_PAGES_PROBE, 'huge'], capture_output=True, text=True,
                         check=True, env=environ).stdout
    tunables, faults = out.split()
    return tunables, int(faults)

  environ = {key: value for key, value in os.environ.items() if key != 'GLIBC_TUNABLES'}
  tunables, huge_faults = probe(environ)
  opted_out, default_faults = probe({**environ, 'GLIBC_TUNABLES': 'glibc.malloc.hugetlb=0'})
  assert (tunables, opted_out) == ('glibc.malloc.hugetlb=1', 'glibc.malloc.hugetlb=0')
  pages = 5 * 64 * 2**20 // 4096
  assert default_faults > 0.9 * pages  # 4 KiB pages: each 64 MiB block faulted in again
  # 2 MiB pages, but for the block's unaligned ends: 544 faults per block here, against 16,385
  assert huge_faults < 0.1 * pages
