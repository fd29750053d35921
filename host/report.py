"""What verify prints per target and writes as JSON (the records of host.verify.summarise)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from cfcbase.fileio import atomic_write
from cfcbase.tasks import WASHOUT


def _fmt_mse(d):
    w = "n/a" if d["washout"] is None else f"{d['washout']:.4e}"
    return f"all {d['all']:.4e}   washout (t>={WASHOUT}) {w}"


def print_target(r: dict, out=None) -> None:
    out = out or sys.stdout
    if r.get("classify"):                     # a classifier [classification hook]
        from .classify_report import print_classifier_target
        return print_classifier_target(r, out)
    p = lambda s: print(s, file=out)  # noqa: E731
    print_heading(p, r)
    p(f"  steps streamed        {r['steps']} ({r['sequences']} sequences x {r['steps_per_sequence']} steps, "
      f"{r['frames_sent']} frames sent)")
    if r["mismatches"] == 0:
        p(f"  mismatches            0 (bit-exact with the golden model)")
    else:
        f = r["first_mismatch"]
        p(f"  mismatches            {r['mismatches']} of {r['steps']}; first: sequence {f['sequence']}, "
          f"step {f['step']}: expected {f['expected']} ({f['expected_float']:+.6f}), "
          f"got {f['got']} ({f['got_float']:+.6f})")
    for e in r.get("state_losses", []):
        p(f"  device state lost     at sequence {e['sequence']}, step {e['step']} ({e['what']}); that "
          f"sequence ran again from h = 0 and is counted from the re-run")
    sk = r.get("soak")
    if sk and sk["host_rss_start"] is not None:
        p(f"  host RSS              {sk['host_rss_start'] / 2**20:.1f} MiB at the start of the stream, "
          f"{sk['host_rss_end'] / 2**20:.1f} MiB at its end")
    if sk and sk.get("stack_high_water_end") is not None:
        first = sk["stack_high_water_start"]
        p(f"  stack high-water      {first if first is not None else 'n/a'} B after the first sequence, "
          f"{sk['stack_high_water_end']} B at the end, of {sk['stack_size']} B (painted stack read through the "
          f"QEMU monitor)")
    same = r["mse_vs_truth"] == r["golden_mse_vs_truth"]
    p(f"  MSE vs truth          {_fmt_mse(r['mse_vs_truth'])}   "
      + ("(= golden model)" if same else f"(golden model: {_fmt_mse(r['golden_mse_vs_truth'])})"))
    p(f"  MSE vs float ternary  {_fmt_mse(r['mse_vs_float_ternary'])}")
    u = r.get("target_units")
    if u:
        level = "; the level forecast: its level at the input's row + the predicted change" if u.get("differenced") else ""
        p(f"  MSE in target units   {_fmt_mse(u['mse_vs_truth'])}   (target {u['target']}{level})")
        for k, v in u["baselines"].items():
            p(f"    baseline {k:<12s} {_fmt_mse(v)}   (same windows, target units)")
    elif r.get("baselines"):
        for k, v in r["baselines"].items():
            p(f"    baseline {k:<12s} {_fmt_mse(v)}   (same sequences)")
    if r.get("verdict"):
        p(f"  verdict               the model is {r['verdict']} (washout MSE, same steps)")
    b = r["bench"]
    if b["per_step"] is None:
        p(f"  per step              n/a ({b['how']})")
    elif b["unit"] == "instructions":
        p(f"  instructions/step     {b['per_step']:.0f}  ({b['how']})")
    else:
        p(f"  time/step             {b['per_step']:.0f} ns  ({b['how']})")
    print_footprint_and_wall(p, r)
    out.flush()


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
        p(f"  flash / RAM           n/a" + (f" ({fp['how']})" if fp else " (no ELF given)"))
    p(f"  wall time             {r['wall_s']:.1f} s (build {r.get('build_s', 0):.1f} s, stream {r['stream_s']:.1f} s)")


def write_json_atomic(path, data) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"     # serialise first: a bad value writes nothing
    atomic_write(path, lambda f: f.write(text.encode()))
