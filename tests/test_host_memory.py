"""glibc keeps freed blocks for reuse once jgan.host_memory says so (train.py --retain_host_memory): no page
faults for a block freed and allocated again, as XLA's CPU backend does with each step's temporary buffers."""
import subprocess
import sys

import pytest

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
