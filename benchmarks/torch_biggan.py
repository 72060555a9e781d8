"""Time Brock's reference BigGAN-PyTorch (128x128 ImageNet G and D) train step on the CPU or a GPU, to compare
with jgan (benchmarks/biggan.py).

The reference code is fetched, not vendored: extract BigGAN.py, layers.py, losses.py, train_fns.py, utils.py and
sync_batchnorm/ from github.com/ajbrock/BigGAN-PyTorch (commit 98459431a5d618d644d54cd1e9fceb1e5045648d) into
--ref_dir, e.g. `for f in ...; do git --git-dir=MIRROR show HEAD:$f > /tmp/biggan_pt/$f; done`.

Builds BigGAN.Generator / BigGAN.Discriminator as scripts/launch_BigGAN_bs256x8.sh does (ch 96, dim_z 120,
shared_dim 128, hier, shared embedding, attention at 64, SN_eps 1e-6, BN_eps 1e-5, adam_eps 1e-6, betas (0, 0.999),
inplace ReLU) with G_lr 5e-5 / D_lr 2e-4, prints parameter counts, then times the reference's own
train_fns.GAN_training_function (hinge loss; --num_D_steps D updates, each with fresh z and y, then one G update
with utils.ortho reg --G_ortho) on random "real" images, float32 (the launch script's precision), on the CPU with
--threads threads or, with --device=cuda, on the GPU (cudnn.benchmark on, as the reference's train.py sets it):
1 warm-up step, median of --steps.
No EMA copy of G (the launch script's EMA only starts at iteration 20,000). train_fns imports torchvision, which
it never uses here, and utils (which needs torchvision, h5py, ...), so a stub torchvision is registered and `utils`
is built from just the reference's toggle_grad, ortho, Distribution and prepare_z_y (taken from utils.py by ast).
Before timing on the CPU it waits (up to 25 min) for the 1-minute load average to fall below --max_load.

Run from the repository root:
  /tmp/torchvenv/bin/python benchmarks/torch_biggan.py --ref_dir=/tmp/biggan_pt [--batch 4 --steps 3]
  python3 benchmarks/torch_biggan.py --ref_dir=DIR --device=cuda --batch=256 --steps=10       # a GPU
"""
import ast
import resource
import statistics
import sys
import time
import types

import torch
import torch.nn as nn
from torch_twin import peak_gpu_memory, setup, synchronize


def _arguments(parser):
  parser.add_argument('--num_D_steps', type=int, default=2)
  parser.add_argument('--G_ortho', type=float, default=1e-4)
  parser.add_argument('--ortho_init', action='store_true', help='run the ortho init instead of skip_init')
  parser.add_argument('--max_load', type=float, default=0.6)
  parser.add_argument('--params_only', action='store_true')


args = setup('/tmp/biggan_pt', steps=3, add_arguments=_arguments)


def reference_utils(path):
  keep = {'toggle_grad', 'ortho', 'Distribution', 'prepare_z_y'}
  tree = ast.parse(open(path).read())
  tree.body = [n for n in tree.body if getattr(n, 'name', None) in keep]
  module = types.ModuleType('utils')
  module.torch, module.nn = torch, nn
  exec(compile(tree, path, 'exec'), module.__dict__)
  return module


sys.modules['utils'] = utils = reference_utils(f'{args.ref_dir}/utils.py')
sys.modules.setdefault('torchvision', types.ModuleType('torchvision'))
import BigGAN  # noqa: E402  (reference code, from --ref_dir)
import train_fns  # noqa: E402

config = dict(G_ch=96, D_ch=96, dim_z=120, shared_dim=128, hier=True, G_shared=True, G_attn='64', D_attn='64',
              n_classes=1000, resolution=128, G_lr=5e-5, D_lr=2e-4, G_B1=0.0, D_B1=0.0, G_B2=0.999, D_B2=0.999,
              adam_eps=1e-6, SN_eps=1e-6, BN_eps=1e-5, G_init='ortho', D_init='ortho',
              skip_init=not args.ortho_init, G_activation=nn.ReLU(inplace=True), D_activation=nn.ReLU(inplace=True),
              batch_size=args.batch, num_D_steps=args.num_D_steps, num_D_accumulations=1, num_G_accumulations=1,
              toggle_grads=True, split_D=False, D_ortho=0.0, G_ortho=args.G_ortho, ema=False)
torch.backends.cudnn.benchmark = True
G, D = BigGAN.Generator(**config).to(args.device), BigGAN.Discriminator(**config).to(args.device)
GD = BigGAN.G_D(G, D)
print('params G: {:,}  D: {:,}'.format(*[sum(p.numel() for p in net.parameters()) for net in (G, D)]), flush=True)
if args.params_only:
  sys.exit()

z_, y_ = utils.prepare_z_y(args.batch, G.dim_z, 1000, device=args.device)
train = train_fns.GAN_training_function(G, D, GD, z_, y_, None, {'itr': 0}, config)
x = torch.rand(args.batch * args.num_D_steps, 3, 128, 128, device=args.device) * 2 - 1
y = torch.randint(0, 1000, (args.batch * args.num_D_steps,), device=args.device)


# On the CPU, wait for the shared machine to be idle: poll every 20 s, up to 25 min.
for _ in range(75 if args.device == 'cpu' else 0):
  load = float(open('/proc/loadavg').read().split()[0])
  if load < args.max_load:
    break
  print(f'load {load:.2f} >= {args.max_load}, waiting', flush=True)
  time.sleep(20)
print('loadavg at start:', open('/proc/loadavg').read().strip(), flush=True)
train(x, y)  # warm-up
synchronize(args.device)
times = []
cpu0 = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
for _ in range(args.steps):
  t0 = time.perf_counter()
  out = train(x, y)
  synchronize(args.device)
  times.append(time.perf_counter() - t0)
  print(f'step {times[-1] * 1e3:.0f} ms  {out}', flush=True)
cpu = sum(resource.getrusage(resource.RUSAGE_SELF)[:2]) - cpu0
print('loadavg at end:', open('/proc/loadavg').read().strip())
ms = statistics.median(times) * 1e3
print(f'batch {args.batch}, {args.num_D_steps} D steps + 1 G step, G_ortho {args.G_ortho}: {ms:.0f} ms/step (median '
      f'of {args.steps}), {args.batch * 1e3 / ms:.2f} images/s, CPU use {cpu / sum(times):.2f} cores, '
      f'peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB')
if args.device == 'cuda':
  print(f'{torch.cuda.get_device_name()}, torch {torch.__version__}: {peak_gpu_memory()}')
