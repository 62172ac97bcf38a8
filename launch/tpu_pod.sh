#!/usr/bin/env bash
# Run mtaimkg_jax on every worker of a Cloud TPU VM pod (multi-host JAX).
#
#   PROJECT=my-project ZONE=us-central2-b TPU_NAME=mtaimkg \
#   ACCELERATOR_TYPE=v4-32 RUNTIME_VERSION=tpu-ubuntu2204-base \
#   launch/tpu_pod.sh --config configs/mixture.py --workdir /mnt/shared/run \
#     --config.data.root=/mnt/shared/data
#
# Creates the pod if it does not exist, copies this checkout to every
# worker, sets up a virtualenv once per worker (idempotent), then runs the
# main command on all workers with multi-host initialisation on. The
# workdir and the data root must be one directory that every worker sees
# at the same path (a Cloud Storage bucket mounted with gcsfuse, or a
# Filestore NFS share): Orbax writes and restores checkpoints from all
# workers there.
set -euo pipefail

: "${PROJECT:?set PROJECT (gcloud project id)}"
: "${ZONE:?set ZONE (e.g. us-central2-b)}"
: "${TPU_NAME:?set TPU_NAME}"
: "${ACCELERATOR_TYPE:?set ACCELERATOR_TYPE (e.g. v4-32)}"
RUNTIME_VERSION=${RUNTIME_VERSION:-tpu-ubuntu2204-base}
REMOTE_DIR=${REMOTE_DIR:-mtaimkg_jax}

tpu() {
  gcloud compute tpus tpu-vm "$@" --project="$PROJECT" --zone="$ZONE"
}

if ! tpu describe "$TPU_NAME" >/dev/null 2>&1; then
  tpu create "$TPU_NAME" --accelerator-type="$ACCELERATOR_TYPE" \
    --version="$RUNTIME_VERSION"
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
archive=$(mktemp --suffix=.tar.gz)
trap 'rm -f "$archive"' EXIT
git -C "$repo" archive --format=tar.gz -o "$archive" HEAD
tpu scp "$archive" "$TPU_NAME:mtaimkg_jax.tar.gz" --worker=all

setup="mkdir -p $REMOTE_DIR && tar -xzf mtaimkg_jax.tar.gz -C $REMOTE_DIR && \
cd $REMOTE_DIR && { [ -x .venv/bin/python ] || python3 -m venv .venv; } && \
.venv/bin/pip install -q -e . 'jax[tpu]==0.10.2'"
tpu ssh "$TPU_NAME" --worker=all --command="$setup"

args=$(printf '%q ' "$@")
tpu ssh "$TPU_NAME" --worker=all \
  --command="cd $REMOTE_DIR && .venv/bin/python -m mtaimkg_jax.main --distributed $args"
