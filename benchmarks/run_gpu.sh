#!/usr/bin/env bash
# The GPU comparison for benchmarks/README.md: jgan's BigGAN-128 and StyleGAN2-256 train steps and their PyTorch
# twins, one after the other on one GPU, and jgan's 64x64 DCGAN and WGAN-GP steps.
#   bash benchmarks/run_gpu.sh [biggan] [stylegan2] [dcgan]     (default: all three, in that order)
#   PYTHON        runs jgan (jax with CUDA; the repository root is on its path, e.g. PYTHONPATH=.)
#   TORCH_PYTHON  has torch with CUDA
#   BIGGAN_PYTORCH, STYLEGAN2_ADA  the reference checkouts the twins read (see their docstrings)
#   PEAK_TFLOPS   the GPU's dense bfloat16 peak, for MFU (989: an H100 SXM)
# BigGAN runs in bfloat16 (the MFU target) and float32; its twin in float32, as BigGAN-PyTorch's launch script.
# StyleGAN2 runs its 4 highest resolutions in reduced precision on both sides, as StyleGAN2-ADA's `auto`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_PYTHON=${TORCH_PYTHON:-python3}
PEAK_TFLOPS=${PEAK_TFLOPS:-989}
BIGGAN_BATCH=${BIGGAN_BATCH:-256}
STYLEGAN2_BATCH=${STYLEGAN2_BATCH:-16}
STEPS=${STEPS:-10}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
parts=("$@")
[ $# -gt 0 ] || parts=(biggan stylegan2 dcgan)
for part in "${parts[@]}"; do
  case $part in
    biggan)
      : "${BIGGAN_PYTORCH:?set BIGGAN_PYTORCH to the BigGAN-PyTorch files benchmarks/torch_biggan.py reads}"
      $PY benchmarks/biggan.py --batch="$BIGGAN_BATCH" --steps="$STEPS" --dtype=bfloat16 \
        --peak_tflops="$PEAK_TFLOPS"
      $PY benchmarks/biggan.py --batch="$BIGGAN_BATCH" --steps="$STEPS" --dtype=float32
      $TORCH_PYTHON benchmarks/torch_biggan.py --ref_dir="$BIGGAN_PYTORCH" --device=cuda \
        --batch="$BIGGAN_BATCH" --steps="$STEPS";;
    stylegan2)
      : "${STYLEGAN2_ADA:?set STYLEGAN2_ADA to the stylegan2-ada-pytorch checkout benchmarks/torch_stylegan2.py reads}"
      $PY benchmarks/stylegan2.py --batch="$STYLEGAN2_BATCH" --steps="$STEPS" --num_bf16_res=4
      $TORCH_PYTHON benchmarks/torch_stylegan2.py --ref_dir="$STYLEGAN2_ADA" --device=cuda \
        --batch="$STYLEGAN2_BATCH" --steps="$STEPS";;
    dcgan)
      $PY benchmarks/step_time.py --res 64 --channels 3 --loss both;;
    *)
      echo "unknown part '$part': choose from biggan, stylegan2, dcgan" >&2; exit 2;;
  esac
done
