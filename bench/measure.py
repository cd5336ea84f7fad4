"""What one measurement records: wall time, SQL statements, peak memory."""

from __future__ import annotations

import contextlib
import os
import threading
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
    timings: list = field(default_factory=list)  # (statement's first words, seconds)


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
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            result.timings.append((" ".join(sql.split())[:70], time.perf_counter() - started))

    _reset_peak_rss()
    baseline = _proc_status("VmRSS")
    with count_connection.execute_wrapper(count):
        started = time.perf_counter()
        yield result
        result.seconds = time.perf_counter() - started
    result.peak_mib = max(0, _proc_status("VmHWM") - baseline) / 1024


def _descendants(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as children:
                    kids = [int(child) for child in children.read().split()]
            except OSError:
                continue
            found += kids
            queue += kids
    return found


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeMemory:
    """Samples the resident memory of a process and all its descendants (worker processes
    included) every few milliseconds; ``peak_mib`` is the largest sum seen."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid, self.interval, self.peak_kib = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            pids = [self.pid, *_descendants(self.pid)]
            self.peak_kib = max(self.peak_kib, sum(_rss_kib(pid) for pid in pids))
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mib(self) -> float:
        return self.peak_kib / 1024
