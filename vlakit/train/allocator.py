"""Keep a training process's freed memory for its next step (glibc's ``malloc``).

A training step allocates and frees the same activation and gradient buffers every time (a few
MiB each). By default glibc adapts its ``mmap`` threshold and gives the top of the heap back to
the kernel whenever more than a few MiB are free there, so the next step faults every page in
again: the default recipe's DDP processes took about 60,000 minor page faults per second, with
10-15% of their time in the kernel. Fixing the thresholds keeps the freed memory in the process;
what a step computes is unchanged (see ``docs/experiments/training-speed.md``).

Only glibc (Linux) is tuned; elsewhere this does nothing. Blocks of 32 MiB and more (a dataset's
arrays) are still mapped and unmapped on their own, and so returned to the kernel when freed.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

# mallopt parameters, from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

MiB = 1 << 20
#: Allocations of this size and more get their own mapping (glibc's largest allowed threshold).
MMAP_THRESHOLD = 32 * MiB
#: Free memory at the top of the heap that is kept rather than given back to the kernel.
TRIM_THRESHOLD = 1024 * MiB
#: Extra memory requested each time the heap grows, so it grows in few large steps.
TOP_PAD = 64 * MiB

SETTINGS = {M_MMAP_THRESHOLD: MMAP_THRESHOLD, M_TRIM_THRESHOLD: TRIM_THRESHOLD, M_TOP_PAD: TOP_PAD}


def _glibc() -> ctypes.CDLL | None:
    """This process's C library when it is glibc, else None."""
    try:
        libc = ctypes.CDLL(None)  # the symbols the process has loaded, its C library's among them
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
    except (OSError, TypeError, AttributeError):  # TypeError: Windows has no such handle
        return None
    return libc


def keep_freed_memory() -> bool:
    """Set this process's ``malloc`` to keep freed memory for reuse; True when it was set."""
    libc = _glibc()
    if libc is None:
        return False
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    done = all([libc.mallopt(param, value) == 1 for param, value in SETTINGS.items()])  # a list: set every one
    if not done:
        log.debug("glibc refused a malloc setting; freed memory is returned to the kernel as before")
    return done
