"""Process-level settings that decide CPU speed, applied before JAX starts.

XLA allocates a fresh buffer for every large intermediate (e.g. the
`[edges, batch, dim]` messages). glibc serves such allocations with mmap and
returns them on free, so each step pays page faults on hundreds of MB: on a
2-core machine most of a step's time was the kernel zeroing 4 KB pages.
`glibc.malloc.hugetlb=1` makes malloc back them with transparent huge pages
(2 MB), which measured 2-2.7x faster gathers and layers (benchmarks/README.md).
glibc reads tunables only at process start, hence the re-exec.
"""

from __future__ import annotations

import os
import sys

TUNABLE = 'glibc.malloc.hugetlb=1'
OPT_OUT = 'MTAIMKG_NO_REEXEC'


def reexec_with_huge_page_malloc(argv: list[str]) -> None:
  """Restarts this process once with the tunable set (Linux only).

  `argv` is the command to rerun after the interpreter (e.g.
  `['-m', 'mtaimkg_jax.main', ...]`). Set MTAIMKG_NO_REEXEC=1 to skip.
  """
  if not sys.platform.startswith('linux') or os.environ.get(OPT_OUT):
    return
  tunables = os.environ.get('GLIBC_TUNABLES', '')
  if 'glibc.malloc.hugetlb' in tunables:
    return
  env = dict(os.environ, GLIBC_TUNABLES=':'.join(filter(None, [tunables,
                                                               TUNABLE])))
  env[OPT_OUT] = '1'  # never loop, whatever glibc makes of the tunable
  os.execve(sys.executable, [sys.executable, *argv], env)
