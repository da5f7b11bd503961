"""Compile kernels with numba when it pays, run them as plain Python otherwise.

Importing numba and loading the compiled kernels from its cache costs about a
second per process, which dwarfs the whole computation on a cluster of a few
nodes.  A program that knows its cluster is small calls ``use_jit(False)``
before it imports the kernel modules; the kernels are then the plain Python
functions they are written as (the same source, so the same float operations
and the same answers).  ``HTOOLS_JIT=0``/``1`` in the environment forces it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_forced = os.environ.get("HTOOLS_JIT")
_enabled = _forced != "0"


def use_jit(flag: bool) -> None:
    """Choose compiled kernels or plain Python (before kernel modules import)."""
    global _enabled
    if _forced is None:
        _enabled = flag


def jit_enabled() -> bool:
    return _enabled


def njit(**options) -> Callable:
    """numba.njit(cache=True, **options), or the function itself without JIT.

    Division follows IEEE (x/0 is inf or nan, as in numpy and in Ganeti),
    not Python's ZeroDivisionError: an offline node reports zero memory.
    """
    def deco(fn: Callable) -> Callable:
        if not _enabled:
            return fn
        import numba
        return numba.njit(cache=True, error_model="numpy", **options)(fn)
    return deco


def parallel_range() -> Callable:
    """numba.prange under JIT (it must be that very object), else range."""
    if not _enabled:
        return range
    import numba
    return numba.prange


# Below this many inner iterations a parallel kernel runs on the calling thread alone:
# waking the pool costs more than it saves, and on a busy machine much more (a
# thread waiting for a core stalls the whole region).
PARALLEL_WORK = 50_000


@contextmanager
def threads_for(work: int) -> Iterator[None]:
    """Run the parallel kernels called inside on one thread when ``work`` is small."""
    if not _enabled or work >= PARALLEL_WORK:
        yield
        return
    import numba
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def num_threads() -> int:
    if not _enabled:
        return 1
    import numba
    return numba.get_num_threads()


def small_cluster(n_nodes: int, n_instances: int) -> bool:
    """Whether plain Python beats paying numba's start-up for this cluster."""
    return n_instances * n_nodes * n_nodes <= 1000
