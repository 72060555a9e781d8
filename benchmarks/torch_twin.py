"""What the PyTorch twins (torch_biggan.py, torch_stylegan2.py) share: their command line, the fetched reference
code on the import path, PyTorch's threads and seed, and a clock that waits for the GPU."""
import argparse
import sys
from collections.abc import Callable

import torch


def setup(ref_dir: str, steps: int, add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
          ) -> argparse.Namespace:
  """Parses --ref_dir (where the reference repository was extracted; default `ref_dir`), --batch, --steps
  (default `steps`), --threads, --device and the twin's own arguments; puts the reference code first on the
  import path, sets PyTorch's CPU threads and seeds it with 0."""
  parser = argparse.ArgumentParser()
  parser.add_argument('--ref_dir', default=ref_dir)
  parser.add_argument('--batch', type=int, default=4)
  parser.add_argument('--steps', type=int, default=steps)
  parser.add_argument('--threads', type=int, default=2)
  parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
  if add_arguments is not None:
    add_arguments(parser)
  args = parser.parse_args()
  sys.path.insert(0, args.ref_dir)
  torch.set_num_threads(args.threads)
  torch.manual_seed(0)
  return args


def synchronize(device: str) -> None:
  """Waits for the GPU's queued work, so that the clock read next counts it."""
  if device == 'cuda':
    torch.cuda.synchronize()


def peak_gpu_memory() -> str:
  return f'peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB'
