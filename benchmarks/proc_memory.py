"""The benchmark servers' own resident memory, optionally after giving freed memory back.

Shared by the Dash apps (``bench_callbacks``) and the bare stack (``app_bare``),
which imports nothing of Dash.
"""

from __future__ import annotations


def rss_kb(trim: bool = False) -> int:
    """This process's RSS; with ``trim``, after glibc's ``malloc_trim(0)``."""
    if trim:
        import ctypes

        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:
            pass
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
