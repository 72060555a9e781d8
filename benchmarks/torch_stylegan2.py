"""Time NVIDIA's reference StyleGAN2-ADA (PyTorch) train steps at 256x256 on the CPU or a GPU, the twin of
benchmarks/stylegan2.py.

The reference code is fetched, not vendored: extract github.com/NVlabs/stylegan2-ada-pytorch (commit
d72cc7d041b42ec8e806021a205ed9349f87c6a4) into --ref_dir, e.g. `git --git-dir=MIRROR archive HEAD | tar -x -C DIR`.
Its dnnlib imports `requests` (for downloads, unused here): a stub is registered.

Builds training.networks.Generator / Discriminator as train.py's `auto` config does for 256x256 on one GPU
(channel_base 16384, channel_max 512, 2 mapping layers, minibatch-stddev groups of 4), on the CPU in float32
(num_fp16_res 0, no conv_clamp: jgan's benchmark computes float32 on the CPU too) and with --device=cuda as
`auto` does on a GPU (num_fp16_res 4, conv_clamp 256; cudnn.benchmark on, TF32 off, as training_loop.py sets
them; jgan's counterpart is --num_bf16_res=4), and runs the reference's training_loop
phases with its training.loss.StyleGAN2Loss (style mixing 0.9, R1 gamma 0.8192, path lengths on half the
batch): Gmain, Greg (every 4), Dmain, Dreg (every 16), each with its own fresh latents, Adam with the lazy
correction (lr 0.0025 * c, betas (0, 0.99) ** c), then the G_ema update, on random "real" images. As in
benchmarks/stylegan2.py, the three kinds of step (plain: Gmain + Dmain; with R1; with path lengths) are timed
apart, each after one warm-up step, and combined in the schedule's proportions. The reference's CUDA kernels
(bias_act, upfirdn2d, conv2d_gradfix) fall back to their PyTorch reference forms on the CPU; on a GPU they are
compiled at first use (nvcc and ninja), before the warm-up step ends.

Run from the repository root:
  /tmp/torchvenv/bin/python benchmarks/torch_stylegan2.py --ref_dir=/tmp/sg2ada [--batch 4 --steps 2]
  python3 benchmarks/torch_stylegan2.py --ref_dir=DIR --device=cuda --batch=16 --steps=10     # a GPU
"""
import copy
import resource
import statistics
import sys
import time
import types

import torch
import torch.utils.cpp_extension
from torch_twin import peak_gpu_memory, setup, synchronize

args = setup('/tmp/sg2ada', steps=2)
sys.modules.setdefault('requests', types.ModuleType('requests'))


def load_and_register(*load_args, **load_kwargs):
  """torch.utils.cpp_extension.load, with the built module put in sys.modules under its name.

  The reference's custom_ops.get_plugin builds each CUDA kernel with `load` and then imports it by name, which
  worked when `load` left the build folder on sys.path; PyTorch no longer does, so the import fails and
  bias_act and upfirdn2d fall back to their slow PyTorch forms (seen on an H100 with torch 2.11: 23 img/s).
  """
  module = build_extension(*load_args, **load_kwargs)
  sys.modules[load_kwargs.get('name') or load_args[0]] = module
  return module


build_extension, torch.utils.cpp_extension.load = torch.utils.cpp_extension.load, load_and_register
from torch_utils.ops import bias_act, upfirdn2d  # noqa: E402
from training.loss import StyleGAN2Loss  # noqa: E402  (reference code, from --ref_dir)
from training.networks import Discriminator, Generator  # noqa: E402

RESOLUTION, R1_EVERY, PL_EVERY = 256, 16, 4
EMA_IMAGES = 16 * 10 / 32 * 1000  # train.py's auto ema_kimg for its batch of 16
common = dict(c_dim=0, img_resolution=RESOLUTION, img_channels=3)
precision = dict(num_fp16_res=4, conv_clamp=256) if args.device == 'cuda' else dict(num_fp16_res=0, conv_clamp=None)
torch.backends.cudnn.benchmark = True
torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
G = Generator(z_dim=512, w_dim=512, mapping_kwargs=dict(num_layers=2),
              synthesis_kwargs=dict(channel_base=16384, channel_max=512, **precision), **common).to(args.device)
D = Discriminator(channel_base=16384, channel_max=512, epilogue_kwargs=dict(mbstd_group_size=4), **precision,
                  **common).to(args.device)
G.train().requires_grad_(False)
D.train().requires_grad_(False)
G_ema = copy.deepcopy(G).eval()
print(f'params G + D: {sum(p.numel() for net in (G, D) for p in net.parameters()):,}', flush=True)
loss = StyleGAN2Loss(torch.device(args.device), G.mapping, G.synthesis, D, r1_gamma=0.0002 * RESOLUTION**2 / 16)


def lazy_adam(module, every):  # training_loop.py: the lazy-regularisation correction
  c = every / (every + 1)
  return torch.optim.Adam(module.parameters(), lr=0.0025 * c, betas=(0.0, 0.99**c), eps=1e-8)


g_opt, d_opt = lazy_adam(G, PL_EVERY), lazy_adam(D, R1_EVERY)
phases = [('Gmain', G, g_opt, 1), ('Greg', G, g_opt, PL_EVERY), ('Dmain', D, d_opt, 1), ('Dreg', D, d_opt, R1_EVERY)]
real = torch.rand(args.batch, 3, RESOLUTION, RESOLUTION, device=args.device) * 2 - 1
c = torch.zeros(args.batch, 0, device=args.device)


def step(active):
  """One iteration of training_loop.py's loop with the phases in `active`, then the G_ema update."""
  for name, module, opt, every in phases:
    if name not in active:
      continue
    opt.zero_grad(set_to_none=True)
    module.requires_grad_(True)
    latents = torch.randn(args.batch, 512, device=args.device)
    loss.accumulate_gradients(phase=name, real_img=real, real_c=c, gen_z=latents, gen_c=c, sync=True, gain=every)
    module.requires_grad_(False)
    for param in module.parameters():
      if param.grad is not None:
        torch.nan_to_num(param.grad, nan=0, posinf=1e5, neginf=-1e5, out=param.grad)
    opt.step()
  with torch.no_grad():
    beta = 0.5 ** (args.batch / EMA_IMAGES)
    for p_ema, p in zip(G_ema.parameters(), G.parameters(), strict=True):
      p_ema.copy_(p.lerp(p_ema, beta))


seconds = {}
for kind, active in (('plain', ('Gmain', 'Dmain')), ('r1', ('Gmain', 'Dmain', 'Dreg')),
                     ('path', ('Gmain', 'Greg', 'Dmain'))):
  step(active)  # warm-up
  synchronize(args.device)
  times = []
  for _ in range(args.steps):
    start = time.perf_counter()
    step(active)
    synchronize(args.device)
    times.append(time.perf_counter() - start)
  seconds[kind] = statistics.median(times)
plain = seconds['plain']
average = plain + (seconds['r1'] - plain) / R1_EVERY + (seconds['path'] - plain) / PL_EVERY
where = torch.cuda.get_device_name() if args.device == 'cuda' else f'CPU, {args.threads} threads'
print(f'PyTorch {torch.__version__} {where}, batch {args.batch}')
if args.device == 'cuda':  # the reference's own kernels, or their slow fallbacks if the build failed
  print('CUDA kernels: ' + ', '.join(f"{name} {'compiled' if op._plugin is not None else 'FELL BACK (slow)'}"
                                     for name, op in (('bias_act', bias_act), ('upfirdn2d', upfirdn2d))))
for kind, s in seconds.items():
  print(f'  {kind:5s} step: {s:.2f} s (median of {args.steps})')
print(f'average step {average:.2f} s: {args.batch / average:.2f} img/s, {average / args.batch * 1000:.0f} sec/kimg, '
      f'peak host RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB')
if args.device == 'cuda':
  print(peak_gpu_memory())
