"""What one measurement records: wall time, SQL statements, peak memory."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

from django.db import connection


def _proc_status(key: str) -> int:
    """A ``/proc/self/status`` memory line, in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _reset_peak_rss() -> None:
    # Writing 5 resets the high-water mark the kernel keeps (Linux 4.0+).
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


@dataclass
class Measurement:
    seconds: float = 0.0
    statements: int = 0
    peak_mib: float = 0.0  # growth of the resident set's high-water mark during the run
    extra: dict = field(default_factory=dict)


@contextlib.contextmanager
def measured(count_connection=connection):
    """Times the block, counts the statements Django's connection sends during it and
    records how far the process's resident memory rose above where it started.

    Memory is the kernel's high-water mark, so tracing costs nothing and the time is not
    inflated the way ``tracemalloc`` would inflate it.
    """
    result = Measurement()

    def count(execute, sql, params, many, context):
        result.statements += 1
        return execute(sql, params, many, context)

    _reset_peak_rss()
    baseline = _proc_status("VmRSS")
    with count_connection.execute_wrapper(count):
        started = time.perf_counter()
        yield result
        result.seconds = time.perf_counter() - started
    result.peak_mib = max(0, _proc_status("VmHWM") - baseline) / 1024
