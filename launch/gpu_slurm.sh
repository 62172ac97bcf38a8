#!/usr/bin/env bash
# Run mtaimkg_jax on a SLURM GPU cluster: one process per GPU, JAX's
# multi-process runtime discovers the job from SLURM's environment.
#
#   sbatch --nodes=2 --gpus-per-node=8 --ntasks-per-node=8 \
#     launch/gpu_slurm.sh --config configs/mixture.py --workdir /shared/run
#
# Needs a virtualenv with `pip install -e . 'jax[cuda12]==0.10.2'` at
# $VENV (default .venv) on a file system every node sees.
#SBATCH --job-name=mtaimkg
#SBATCH --gpus-per-task=1
set -euo pipefail

VENV=${VENV:-.venv}
srun --kill-on-bad-exit=1 "$VENV/bin/python" -m mtaimkg_jax.main \
  --distributed "$@"
