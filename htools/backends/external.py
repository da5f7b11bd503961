"""Backend selection shared by every tool (Ganeti's ExtLoader, spec §2.5)."""

from __future__ import annotations

from typing import Any

from htools.errors import DataError
from solver.records import ClusterData


def load_external(opts: Any) -> ClusterData:
    """Load the cluster from whichever backend the options name.

    ``-m``, ``-L`` and ``-t`` exclude each other; otherwise the first present
    of RAPI, Luxi, --simulate, -t, -I wins, as in Ganeti.
    """
    rapi = getattr(opts, "rapi", None)
    luxi = getattr(opts, "luxi", None)
    text = getattr(opts, "data_file", None)
    simu = getattr(opts, "simulate", None) or []
    ialloc = getattr(opts, "iallocator_src", None)
    if sum(x is not None for x in (rapi, luxi, text)) > 1:
        raise UsageError("Only one of the rapi, luxi, and data files options should be given.")
    if rapi is not None:
        from htools.backends.rapi import load_rapi
        return load_rapi(rapi)
    if luxi is not None:
        raise DataError("the Luxi backend is not supported; use -m (RAPI) instead")
    if simu:
        from htools.backends.simu import load_simu
        return load_simu(list(simu))
    if text is not None:
        from htools.backends.text import load_text
        return load_text(text)
    if ialloc is not None:
        from htools.backends.iallocator import RequestFileError, load_request
        try:
            return load_request(ialloc).data
        except RequestFileError:
            raise
        except DataError as err:
            # Ganeti's request reader ends the program itself: no "failed to load" prefix
            raise UsageError(str(err)) from None
    raise DataError("No backend selected! Exiting.")


class UsageError(Exception):
    """An error Ganeti reports as is, without the "failed to load data" prefix.

    Conflicting backend options, and iallocator requests (``-I``) that do not
    parse: Ganeti's request reader exits on its own before the loader can
    wrap the message.
    """
