#!/usr/bin/env bash
# The test command of the README: a fresh virtualenv, the package with its
# test extra, then pytest. Fails when no test ran.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${MTAIMKG_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet -e '.[test]'
# Huge-page malloc: ~2x faster XLA on CPU (see mtaimkg_jax/runtime.py).
export GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.hugetlb=1"
# One worker per core (at most 4), a test file per worker: compilation is
# single-threaded, so two workers keep both cores of a CI machine busy; a
# file's module-scoped runs are made once. `-n 0` after it runs serially.
status=0
"$VENV/bin/python" -m pytest -q -n auto --maxprocesses=4 --dist loadfile \
  --junitxml=.pytest-report.xml "$@" || status=$?
tests_ran=$("$VENV/bin/python" - <<'PY'
import xml.etree.ElementTree as ET
root = ET.parse('.pytest-report.xml').getroot()
suite = root if root.tag == 'testsuite' else root.find('testsuite')
print(int(suite.get('tests', 0)) - int(suite.get('skipped', 0)))
PY
)
if [ "$tests_ran" -eq 0 ]; then
  echo "no test ran" >&2
  exit 1
fi
exit "$status"
