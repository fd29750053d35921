"""The parts of a target's verify report that every head prints (its heading, its flash / RAM and
wall time; the rest: host.heads) and the JSON report written atomically."""
from __future__ import annotations

import json
from pathlib import Path

from cfcbase.fileio import atomic_write


def print_heading(p, r: dict) -> None:
    """A target's first line: its name, kernel (and the one it normally runs), model and firmware."""
    k = r["kernel"]
    if r.get("expected_kernel") and k != r["expected_kernel"]:
        k += f" (this target normally runs {r['expected_kernel']})"
    p(f"== {r['target']}: kernel {k}, model {r['model_hash']}"
      + (f", {r['firmware']}" if r.get("firmware") else ""))


def print_footprint_and_wall(p, r: dict, percent=True) -> None:
    """A target's flash / RAM line (percent: with the share of each capacity) and its wall time."""
    fp = r.get("footprint")
    if fp and fp.get("flash") is not None:
        stack = f" incl. {fp['stack']} B stack" if fp.get("stack") else ""
        if fp.get("flash_capacity"):
            pf = f" ({100 * fp['flash'] / fp['flash_capacity']:.1f}%)" if percent else ""
            pr = f" ({100 * fp['ram'] / fp['ram_capacity']:.1f}%)" if percent else ""
            p(f"  flash / RAM           {fp['flash']} B of {fp['flash_capacity']} B{pf} / "
              f"{fp['ram']} B of {fp['ram_capacity']} B{pr}{stack}  ({fp['how']})")
        else:
            p(f"  flash / RAM           {fp['flash']} B / {fp['ram']} B{stack}  ({fp['how']})")
    else:
        p("  flash / RAM           n/a" + (f" ({fp['how']})" if fp else " (no ELF given)"))
    p(f"  wall time             {r['wall_s']:.1f} s (build {r.get('build_s', 0):.1f} s, stream {r['stream_s']:.1f} s)")


def write_json_atomic(path, data) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"     # serialise first: a bad value writes nothing
    atomic_write(path, lambda f: f.write(text.encode()))
