"""`python -m host bench --qemu`: instructions per matrix-vector product and per cell step of the
ternary kernels (ref, lut and, where the core has them, dsp / mve, and each model's weights-as-code
kernel) next to a dense int8 SMLAD baseline of the same shapes, the lut kernel's table build alone,
and bytes of weight storage (for the code kernel: the size of its function in the image). Each step
is timed twice in the same run: with the runtime per-row path (trix_cell_step_q14) and with the
reference path of docs/fixed_point.md as written (trix_cell_step_q14_ref).

Builds the bench image (firmware/tests/bench_kernels.c + bench_dense.c; never part of trix_fw)
in the same tree as `verify` (build/<target>-<modelhash>), runs it under qemu-system-arm with
`-icount shift=0` (host.qemu.run_image: no semihosting; SysTick: 40 instructions per tick on
mps2, 31.25 on mps3-an547), parses its `bench ...` lines and prints one table. The dense kernel
has no cell step of its own; its "step" column is derived: dense matvec + (dsp step - dsp
matvec), i.e. the same work outside the matrix-vector product as the ternary step.
"""
from __future__ import annotations

import math
import re
import shutil
import subprocess
from dataclasses import dataclass

from cfcbase.stats import fit_exponent

from .build import build
from .model import load_model
from .errors import HostError
from .qemu import ICOUNT_SHIFT, check_tools, run_image
from .targets import get as get_target

LINE = re.compile(r"^bench (?P<model>\S+) I=(?P<i>\d+) H=(?P<h>\d+) kernel=(?P<k>\S+): matvec (?P<mv>\d+) insns"
                  r"(?:.*?, cell step (?P<step>\d+) insns)?(?:, reference cell step (?P<ref>\d+) insns)?"
                  r"(?:, function (?P<fn>\w+))?(?P<rest>.*)$")
LUT_TABLES = re.compile(r"^bench (?P<model>\S+) I=(?P<i>\d+) H=(?P<h>\d+) lut tables only: (?P<n>\d+) insns "
                        r"\((?P<t>\d+) tables\)")
BYTES = re.compile(r"^bench (?P<model>\S+) I=(?P<i>\d+) H=(?P<h>\d+) weight bytes: ternary (?P<t>\d+) .*"
                   r"int8 (?P<d>\d+) \((?P<dp>\d+) padded")


KERNELS = ("ref", "lut", "dsp", "dsp/lut", "mve", "code", "dense-s8-smlad", "s8-ref", "s8-c", "s8-smlad")
S8_BYTES = re.compile(r"int8 bytes (?P<b>\d+)")


@dataclass
class Row:
    kernel: str
    hidden: int
    inputs: int
    matvec: int
    step: int | None
    step_derived: bool
    weight_bytes: int | None
    ok: bool = True
    step_ref: int | None = None      # the same step through the reference per-row path
    function: str | None = None      # code kernel: its function (the flash is its size)

    @property
    def weights(self) -> int:
        return 2 * self.hidden * (self.inputs + self.hidden)


def parse(text: str, hidden, sizes=None) -> tuple[list, dict]:
    """Rows per (H, kernel) for H in hidden (random test models preferred), and storage per H.
    sizes: {function: bytes} of the image (the code kernels' flash)."""
    found, storage = {}, {}
    sizes = sizes or {}
    for line in text.splitlines():
        m = LINE.match(line.strip())
        if m:
            h = int(m["h"])
            key = (h, m["k"])
            if h in hidden and (key not in found or m["model"].startswith("random")):
                found[key] = (m["model"], int(m["i"]), int(m["mv"]), int(m["step"]) if m["step"] else None,
                              "MISMATCH" not in m["rest"], int(m["ref"]) if m["ref"] else None, m["fn"],
                              S8_BYTES.search(m["rest"] or ""))
            continue
        m = BYTES.match(line.strip())
        if m and int(m["h"]) in hidden:
            if int(m["h"]) not in storage or m["model"].startswith("random"):
                storage[int(m["h"])] = (int(m["t"]), int(m["d"]), int(m["dp"]))
    rows = []
    for h in hidden:
        dsp = found.get((h, "dsp"))
        for k in KERNELS:
            if (h, k) not in found:
                continue
            _, i, mv, step, ok, ref, fn, s8 = found[(h, k)]
            derived = False
            if s8:                                   # an int8 kernel on an int8 model: its rows as stored
                wb = int(s8["b"])
            elif k.startswith("dense"):
                if dsp and dsp[3] is not None:
                    step, derived = mv + (dsp[3] - dsp[2]), True
                wb = storage[h][1] if h in storage else 2 * h * (i + h)
            elif fn:
                wb = sizes.get(fn)
            else:
                wb = storage[h][0] if h in storage else 2 * h * ((i + h + 3) // 4)
            rows.append(Row(k, h, i, mv, step, derived, wb, ok, ref, fn))
    return rows, storage


def function_sizes(elf) -> dict:
    """{symbol: bytes} of the functions in an ELF (arm-none-eabi-nm -S): the code kernels' flash."""
    nm = shutil.which("arm-none-eabi-nm")
    if not nm:
        return {}
    out = subprocess.run([nm, "-S", "-t", "d", str(elf)], capture_output=True, text=True).stdout
    sizes = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4 and f[2] in "tT":
            sizes[f[3]] = int(f[1])
    return sizes


def format_table(rows, storage) -> str:
    out = [f"{'kernel':<15} {'H':>3} {'I':>2} {'insns/matvec':>12} {'insns/weight':>12} {'insns/step':>11} "
           f"{'ref-path step':>13} {'step/ref':>8} {'weight bytes':>12}"]
    for r in rows:
        step = "-" if r.step is None else f"{r.step}{'*' if r.step_derived else ''}"
        ref = "-" if r.step_ref is None else str(r.step_ref)
        ratio = "-" if r.step_ref is None or r.step is None else f"{r.step / r.step_ref:.2f}"
        wb = "?" if r.weight_bytes is None else str(r.weight_bytes)
        out.append(f"{r.kernel:<15} {r.hidden:>3} {r.inputs:>2} {r.matvec:>12} {r.matvec / r.weights:>12.2f} "
                   f"{step:>11} {ref:>13} {ratio:>8} {wb:>12}" + ("" if r.ok else "  RESULT MISMATCH"))
    if any(r.step_derived for r in rows):
        out.append("* dense step derived: dense matvec + (dsp step - dsp matvec)")
    if any(r.step_ref is not None for r in rows):
        out.append("insns/step: trix_cell_step_q14 (the runtime per-row path); ref-path step: "
                   "trix_cell_step_q14_ref (docs/fixed_point.md 2-6 as written), same kernel, same run")
    if any(r.function for r in rows):
        out.append("weight bytes of code: the size of the model's generated kernel function in the image "
                   "(weights as code, `codegen export --kernel code`); of the others: the packed trits")
    for h, (t, d, dp) in sorted(storage.items()):
        i = next((r.inputs for r in rows if r.hidden == h), 1)
        w = 2 * h * (i + h)
        out.append(f"H={h}: {w} weights; ternary {t} B at 2 bits/trit incl. row padding "
                   f"({8 * t / w:.3f} bits/weight; log2(3) limit {math.ceil(w * math.log2(3) / 8)} B), "
                   f"int8 {d} B ({dp} B with rows padded to 4 columns for SMLAD)")
    exps = growth_exponents(rows)
    if exps:
        hs = sorted({r.hidden for r in rows})
        out.append(f"growth exponent in H (least squares of log insns vs log H, H = {', '.join(map(str, hs))}):")
        for k, (mv, step, last) in exps.items():
            out.append(f"  {k:<15} matvec {mv:.2f}" + ("" if step is None else f", step {step:.2f}")
                       + f"; matvec between the two largest H {last:.2f}")
    return "\n".join(out)


def growth_exponents(rows) -> dict:
    """Per kernel measured at >= 3 widths: (matvec exponent, step exponent or None, matvec exponent
    between the two largest widths, where fixed per-call costs matter least)."""
    out = {}
    for k in KERNELS:
        rs = sorted((r for r in rows if r.kernel == k), key=lambda r: r.hidden)
        if len({r.hidden for r in rs}) < 3:
            continue
        hs = [r.hidden for r in rs]
        step = fit_exponent(hs, [r.step for r in rs]) if all(r.step for r in rs) else None
        last = fit_exponent(hs[-2:], [r.matvec for r in rs[-2:]])
        out[k] = (fit_exponent(hs, [r.matvec for r in rs]), step, last)
    return out


def parse_lut_tables(text: str, hidden) -> dict:
    """{H: (instructions, tables)} of the lut kernel called with 0 rows: the table build alone."""
    out = {}
    for line in text.splitlines():
        m = LUT_TABLES.match(line.strip())
        if m and int(m["h"]) in hidden and (int(m["h"]) not in out or m["model"].startswith("random")):
            out[int(m["h"])] = (int(m["n"]), int(m["t"]))
    return out


def format_lut_tables(tables, rows) -> str:
    """One line per H: the table build's share of the lut matvec."""
    lut = {r.hidden: r.matvec for r in rows if r.kernel == "lut"}
    out = []
    for h, (n, t) in sorted(tables.items()):
        share = f", {100 * n / lut[h]:.0f}% of the lut matvec ({lut[h]})" if h in lut else ""
        out.append(f"H={h}: lut table build alone (0 rows) {n} instructions for {t} tables, "
                   f"{n / t:.0f} per table{share}")
    return "\n".join(out)


def runtime_summary(rows, kernel: str) -> str:
    """Per H: the runtime kernel's matvec against the reference and the fastest ternary kernel; its
    cell step against the reference per-row path; the weights-as-code kernel's step and flash."""
    out = []
    for h in sorted({r.hidden for r in rows}):
        at = {r.kernel: r.matvec for r in rows if r.hidden == h and not r.kernel.startswith(("dense", "s8"))}
        if kernel not in at or "ref" not in at:
            continue
        best = min(at, key=at.get)
        out.append(f"H={h}: runtime kernel {kernel} {at[kernel]} instructions per matvec = "
                   f"{at[kernel] / at['ref']:.2f} x ref ({at['ref']}); fastest ternary kernel here: {best} "
                   f"({at[best]})")
        rt = next(r for r in rows if r.hidden == h and r.kernel == kernel)
        code = next((r for r in rows if r.hidden == h and r.kernel == "code"), None)
        if rt.step is not None and rt.step_ref is not None:
            line = (f"H={h}: cell step, runtime kernel {kernel}: reference per-row path {rt.step_ref} -> "
                    f"{rt.step} instructions ({rt.step / rt.step_ref:.2f}x)")
            if code is not None and code.step is not None:
                flash = "?" if code.weight_bytes is None else f"{code.weight_bytes} B"
                line += (f"; weights as code {code.step} ({code.step / rt.step_ref:.2f}x), flash {flash} of code "
                         f"against {rt.weight_bytes} B of packed trits")
            out.append(line)
    return "\n".join(out)


def run(target: str, model, hidden, build_root=None, log=None, timeout: float = 600.0) -> int:
    row = get_target(target)
    if row.count != "instructions" or row.qemu_tick_hz is not None:
        raise HostError(f"bench --qemu needs a bare-metal target whose QEMU tick source runs at the chip's clock, "
                        f"not {target}")
    check_tools([target], build=True, run=True)
    fw = build(target, load_model(model), build_root, log=log, program="bench_kernels")
    if log:
        log(f"{target}: running {fw.elf} under qemu-system-arm -icount shift={ICOUNT_SHIFT}")
    r = run_image(target, fw.elf, timeout=timeout, icount=True)
    text = r.output.decode("utf-8", "replace").replace("\r\n", "\n")
    if r.status != 0:
        why = r.message or f"the bench image exited with status {r.status}"
        raise HostError(f"{why}: {text.strip()[-400:]}")
    rows, storage = parse(text, hidden, function_sizes(fw.elf))
    if not rows:
        raise HostError(f"no bench figures for H in {hidden} in the output:\n{text.strip()[-800:]}")
    print(f"{target} ({row.core}, QEMU {row.qemu}, -icount shift={ICOUNT_SHIFT}; {fw.elf})")
    print(format_table(rows, storage))
    tables = format_lut_tables(parse_lut_tables(text, hidden), rows)
    if tables:
        print(tables)
    summary = runtime_summary(rows, row.kernel)
    if summary:
        print(summary)
    return 0 if all(r.ok for r in rows) else 1
