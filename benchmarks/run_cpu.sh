#!/usr/bin/env bash
# The CPU comparison recorded in benchmarks/README.md: jgan's step and the PyTorch twin's, one after the
# other on the same machine. TORCH_PYTHON is a Python with torch installed (pip install torch==2.13.0).
# jgan runs as train.py does (glibc malloc on transparent huge pages: jgan.host_memory.run_with_huge_pages)
# and with --retain_host_memory; the twin as is, with the huge pages, and with the retained-memory settings,
# each given to it through the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
TORCH_PYTHON=${TORCH_PYTHON:-python3}
TWIN=${TWIN:-../shared/bench/torch_dcgan.py}
HUGE=glibc.malloc.hugetlb=1
for setting in "32 1" "64 3"; do
  set -- $setting
  $PY benchmarks/step_time.py --res "$1" --channels "$2" --loss both
  $PY benchmarks/step_time.py --res "$1" --channels "$2" --loss both --retain_host_memory
  for loss in bce wgan-gp; do
    $TORCH_PYTHON "$TWIN" --res "$1" --nc "$2" --loss "$loss"
    echo -n "huge pages: "
    GLIBC_TUNABLES=$HUGE $TORCH_PYTHON "$TWIN" --res "$1" --nc "$2" --loss "$loss"
    echo -n "huge pages, malloc keeping freed memory: "
    GLIBC_TUNABLES=$HUGE MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=18446744073709551615 \
      $TORCH_PYTHON "$TWIN" --res "$1" --nc "$2" --loss "$loss"
  done
done
$PY benchmarks/step_time.py --res 32 --channels 1 --width 16 --loss bce  # the default config's networks
