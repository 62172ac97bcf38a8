#!/usr/bin/env bash
# Start N local CPU processes of mtaimkg_jax.main that form one JAX job
# (loopback coordinator, gloo collectives), wait for all of them, and fail
# if any fails.
#
#   launch/local.sh N --config configs/test.py --workdir /tmp/run [main args]
#
# Environment: DEVICES_PER_PROCESS (fake CPU devices per process, default
# 1), PORT (coordinator port, default: a free one), PYTHON (default python).
set -euo pipefail

if [ "$#" -lt 1 ] || ! [[ "$1" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 N <mtaimkg_jax.main arguments>" >&2
  exit 2
fi
num_processes=$1
shift
python_bin=${PYTHON:-python}
devices=${DEVICES_PER_PROCESS:-1}
port=${PORT:-$("$python_bin" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}

pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
}
trap cleanup INT TERM

for ((i = 0; i < num_processes; i++)); do
  XLA_FLAGS="--xla_force_host_platform_device_count=${devices} ${XLA_FLAGS:-}" \
  JAX_PLATFORMS=cpu \
    "$python_bin" -m mtaimkg_jax.main "$@" \
      --coordinator_address="127.0.0.1:${port}" \
      --num_processes="${num_processes}" --process_id="${i}" &
  pids+=("$!")
done

status=0
for pid in "${pids[@]}"; do
  if ! wait "$pid"; then
    status=1
    cleanup
  fi
done
exit "$status"
