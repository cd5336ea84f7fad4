"""The benchmark's outputs: a table on stdout, ``bench/results.json`` and ``bench/results.png``.

Each target is a ratio (or a rate) measured within one run, so the verdicts hold on any
machine; the absolute numbers describe this one.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import django
from django.db import connection

HERE = Path(__file__).resolve().parent

DISCONNECT_RATIO_MAX = 1.5  # service / floor at the largest history
OFFBOARDING_RATE_MIN = 100.0  # accounts per second through the command
API_RATIO_MIN = 0.7  # endpoint / ceiling requests per second


def machine() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
        cursor.execute("SHOW shared_buffers")
        shared_buffers = cursor.fetchone()[0]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=HERE.parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = ""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "postgresql": postgres,
        "postgresql_shared_buffers": shared_buffers,
        "kernel": platform.release(),
    }


def verdicts(results: dict) -> dict:
    """Each target, the value it is judged on, and whether it was met."""
    found = {}
    disconnect = results.get("disconnect") or []
    if disconnect:
        largest = max(disconnect, key=lambda row: row["size"])
        statements = {row["service_statements"] for row in disconnect if row["size"] > 0}
        found["disconnect_ratio_at_largest_history"] = {
            "size": largest["size"],
            "value": round(largest["ratio"], 3),
            "target": f"<= {DISCONNECT_RATIO_MAX}",
            "met": largest["ratio"] <= DISCONNECT_RATIO_MAX,
        }
        found["disconnect_statements_constant"] = {
            "value": sorted(statements),
            "target": "one count for every N > 0",
            "met": len(statements) == 1,
        }
    offboarding = results.get("offboarding") or []
    if offboarding:
        best_jobs = max(row["jobs"] for row in offboarding)
        runs = [row for row in offboarding if row["jobs"] == best_jobs]
        at_1000 = next((row for row in runs if row["accounts"] == 1000), runs[-1])
        peaks = [row["peak_rss_mib"] for row in runs]
        found["offboarding_rate"] = {
            "accounts": at_1000["accounts"],
            "jobs": best_jobs,
            "value": round(at_1000["accounts_per_s"], 1),
            "target": f">= {OFFBOARDING_RATE_MIN:g} accounts/s",
            "met": at_1000["accounts_per_s"] >= OFFBOARDING_RATE_MIN,
        }
        growth = max(peaks) / min(peaks) if min(peaks) else 0
        found["offboarding_memory_flat"] = {
            "sizes": [row["accounts"] for row in runs],
            "value": round(growth, 3),
            "target": "largest / smallest peak <= 1.1",
            "met": growth <= 1.1,
        }
    for row in results.get("api") or []:
        met = row["ratio"] >= API_RATIO_MIN and row["errors"] == 0
        found[f"api {row['endpoint']}"] = {
            "value": round(row["ratio"], 3),
            "errors": row["errors"],
            "target": f">= {API_RATIO_MIN} x ceiling, no errors",
            "met": met,
        }
    return found


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(str(cell).rjust(width) for cell, width in zip(header, widths, strict=True))]
    lines += [
        "  ".join(str(cell).rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    return lines


def text(results: dict) -> str:
    lines = []
    if results.get("disconnect"):
        lines += ["", "Disconnect vs history (N queued targets, 10N snapshots, N inbox items)"]
        lines += _table(
            ["N", "service ms", "floor ms", "ratio", "statements", "floor stmts", "memory +MiB"],
            [
                [
                    f"{row['size']:,}",
                    f"{row['service_ms']:.1f}",
                    f"{row['floor_ms']:.1f}",
                    f"{row['ratio']:.2f}",
                    row["service_statements"],
                    row["floor_statements"],
                    f"{row['service_peak_mib']:.1f}",
                ]
                for row in results["disconnect"]
            ],
        )
    if results.get("offboarding"):
        lines += ["", "Offboarding through manage.py offboard_workspace --yes --json"]
        lines += _table(
            ["accounts", "--jobs", "seconds", "accounts/s", "peak MiB (all)", "command MiB"],
            [
                [
                    f"{row['accounts']:,}",
                    row["jobs"],
                    f"{row['seconds']:.2f}",
                    f"{row['accounts_per_s']:.1f}",
                    f"{row['peak_rss_mib']:.0f}",
                    f"{row['command_peak_rss_mib']:.0f}",
                ]
                for row in results["offboarding"]
            ],
        )
    if results.get("api"):
        lines += ["", "API under gunicorn and wrk, beside the ceiling (a bare DRF view, same auth)"]
        lines += _table(
            ["endpoint", "req/s", "p50 ms", "p99 ms", "errors", "ceiling req/s", "ratio"],
            [
                [
                    row["endpoint"],
                    f"{row['requests_per_s']:.0f}",
                    f"{row['p50_ms']:.1f}",
                    f"{row['p99_ms']:.1f}",
                    row["errors"],
                    f"{row['ceiling_requests_per_s']:.0f}",
                    f"{row['ratio']:.2f}",
                ]
                for row in results["api"]
            ],
        )
    if results.get("verdicts"):
        lines += ["", "Targets"]
        for name, verdict in results["verdicts"].items():
            mark = "met   " if verdict["met"] else "MISSED"
            lines.append(f"  {mark} {name}: {verdict['value']} (target {verdict['target']})")
    return "\n".join(lines)


def write_json(results: dict, path: Path = HERE / "results.json") -> Path:
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


def plot(results: dict, path: Path = HERE / "results.png") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    disconnect = results.get("disconnect") or []
    if disconnect:
        ax = axes[0]
        sizes = [max(row["size"], 1) for row in disconnect]
        ax.plot(sizes, [row["service_ms"] for row in disconnect], "o-", label="service")
        ax.plot(sizes, [row["floor_ms"] for row in disconnect], "s--", label="SQL floor")
        for size, row in zip(sizes, disconnect, strict=True):
            ax.annotate(
                f"{row['ratio']:.2f}x · {row['service_statements']} stmts",
                (size, row["service_ms"]),
                textcoords="offset points",
                xytext=(-10, 8),
                fontsize=8,
            )
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="queued targets N (10N snapshots, N inbox items)",
            ylabel="ms",
            title="Disconnect vs history",
        )
        ax.legend()
    offboarding = results.get("offboarding") or []
    if offboarding:
        ax = axes[1]
        labels = [f"{row['accounts']:,}\n--jobs {row['jobs']}" for row in offboarding]
        bars = ax.bar(labels, [row["accounts_per_s"] for row in offboarding], color="#4c72b0")
        ax.axhline(OFFBOARDING_RATE_MIN, color="#c44e52", linestyle=":", label="target")
        for bar, row in zip(bars, offboarding, strict=True):
            ax.annotate(
                f"{row['peak_rss_mib']:.0f} MiB",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                textcoords="offset points",
                xytext=(0, 3),
                fontsize=8,
            )
        ax.set(ylabel="accounts/s (label: peak memory)", title="Offboarding a workspace")
        ax.legend()
    api = results.get("api") or []
    if api:
        ax = axes[2]
        names = [row["endpoint"].replace(" /api/v1/", "\n").replace(" (", "\n(") for row in api]
        positions = range(len(api))
        ax.bar(
            [p - 0.2 for p in positions],
            [row["requests_per_s"] for row in api],
            width=0.4,
            label="endpoint",
        )
        ax.bar(
            [p + 0.2 for p in positions],
            [row["ceiling_requests_per_s"] for row in api],
            width=0.4,
            label="ceiling",
            color="#999999",
        )
        for position, row in zip(positions, api, strict=True):
            ax.annotate(
                f"{row['ratio']:.2f}x",
                (position - 0.2, row["requests_per_s"]),
                ha="center",
                textcoords="offset points",
                xytext=(0, 3),
                fontsize=8,
            )
        ax.set_xticks(list(positions), names, fontsize=7)
        ax.set(ylabel="requests/s", title="API throughput (gunicorn + wrk)")
        ax.legend(loc="upper right")
    figure.suptitle(
        f"socialhub benchmark · {results['machine']['cpus']} CPUs · "
        f"PostgreSQL {results['machine']['postgresql']} · {results['machine']['date']}",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


if __name__ == "__main__":  # python -m bench.report: redraw the plot from results.json
    print(plot(json.loads((HERE / "results.json").read_text())))
