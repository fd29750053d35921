"""`python -m host verify`: stream the test set through the firmware and check it bit for bit
against the golden integer model (codegen.golden), with MSE against the truth and against
the float ternary model, instructions per step (BENCH), flash and RAM, and wall time."""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import protocol as P
from .build import REPO, Firmware, build, footprint
from .client import Client
from .errors import (HostError, LinkError, ModelMismatch, NoReply, ProtocolError, TruncatedFrame,
                     VerifyFailed)
from .qemu import EXPECTED_KERNEL, ICOUNT_SHIFT, KNOWN_TARGETS, TARGETS, check_tools, launch
from .transport import open_url

WASHOUT = 5
DEFAULT_MODEL = "results/sine/best.npz"


@dataclass
class Options:
    targets: list = field(default_factory=lambda: list(TARGETS))
    model: str = DEFAULT_MODEL
    sequences: int | None = None
    json_path: str | None = None
    port: str | None = None           # a board (or any device path / pyserial URL)
    baud: int = 115200
    firmware: str | None = None       # a pre-built trix_fw instead of building
    qemu_port: int | None = None      # first TCP port to try for QEMU's UART
    build_root: str | None = None
    timeout: float = 10.0
    window: int | None = None
    bench_steps: int = 1000


# ---- model and data -------------------------------------------------------------------------

@dataclass
class Reference:
    art: object
    model: object                     # codegen.golden.IntModel
    x: np.ndarray                     # float [N, T, I]
    x_q14: np.ndarray                 # int16 [N, T, I]
    truth: np.ndarray                 # float [N, T]
    golden_q14: np.ndarray            # int16 [N, T]
    float_ternary: np.ndarray         # float [N, T]
    data_source: str


def load_reference(model_path, sequences=None, log=None) -> Reference:
    from codegen.artifact import load_artifact
    from codegen.golden import IntModel, float_ternary_predict, quantize_input, run_golden
    if not os.path.isfile(model_path):
        raise HostError(f"model {model_path} not found (train one with `python -m trainer factorial`, "
                        f"or pass --model PATH)")
    art = load_artifact(model_path)
    m = IntModel.from_artifact(art)
    x, y, source = _test_split(art, log)
    if sequences is not None:
        if sequences < 1:
            raise HostError("--sequences must be >= 1")
        x, y = x[:sequences], y[:sequences]
    xq = quantize_input(x)
    gold = run_golden(m, xq)
    return Reference(art, m, x, xq, y, gold, float_ternary_predict(art, x), source)


def _test_split(art, log):
    try:
        from trainer.tasks import load_split
    except ImportError:
        load_split = None
    if load_split is not None:
        x, y = load_split(art.task, "test")
        x = np.asarray(x, np.float64)
        y = np.asarray(y, np.float64).reshape(x.shape[0], x.shape[1])
        if x.ndim != 3 or x.shape[2] != art.I:
            raise HostError(f"the {art.task} test set has shape {x.shape}, the model I={art.I}")
        return x, y, f"{art.task} test set (trainer.tasks.load_split)"
    # trainer.tasks missing (partial checkout): the pinned sine task's shape, own phases.
    if log:
        log("warning: trainer.tasks is not available: streaming synthetic sines (256 x 50, "
            "w = 2*pi/25), not the pinned test set")
    rng = np.random.default_rng(12345)
    phi = rng.uniform(0, 2 * np.pi, (256, 1))
    t = np.arange(51)[None, :]
    s = np.sin(2 * np.pi / 25 * t + phi)
    x = np.repeat(s[:, :50, None], art.I, axis=2)
    return x, s[:, 1:], "synthetic sines (trainer.tasks unavailable)"


def mse_pair(pred, ref) -> dict:
    """MSE over all steps and over t >= WASHOUT, computed as `python -m codegen accuracy` does
    (slice, subtract, square, mean), so equal outputs give bit-identical figures."""
    p, r = np.asarray(pred, np.float64), np.asarray(ref, np.float64)
    wash = float(np.mean((p[:, WASHOUT:] - r[:, WASHOUT:]) ** 2)) if p.shape[1] > WASHOUT else None
    return {"all": float(np.mean((p - r) ** 2)), "washout": wash}


# ---- one target -----------------------------------------------------------------------------

def check_hello(h: P.Hello, ref: Reference, where: str, model_path) -> None:
    problems = []
    if h.model_hash != ref.model.hash:
        problems.append(f"model hash {h.hash_hex} != {ref.model.hash_hex} of {model_path}")
    if (h.inputs, h.hidden) != (ref.model.I, ref.model.H):
        problems.append(f"I={h.inputs} H={h.hidden} != I={ref.model.I} H={ref.model.H}")
    if problems:
        raise ModelMismatch(f"{where}: the firmware runs a different model than {model_path} "
                            f"({'; '.join(problems)}); nothing was streamed. Rebuild for this model "
                            f"(verify --qemu builds it) or pass the npz the firmware was built from")


def instructions(target: str, b: P.Bench, emulated: bool) -> dict:
    out = {"bench_steps": b.n, "ticks": b.ticks, "tick_hz": b.tick_hz}
    if b.tick_hz == 0 or b.n == 0:
        out.update(per_step=None, unit=None, how="the target has no tick counter")
    elif target.startswith("cortex-m") and emulated:
        per_tick = 1e9 / b.tick_hz / (1 << ICOUNT_SHIFT)   # 1 instruction = 2^shift ns
        out.update(per_step=b.ticks * per_tick / b.n, unit="instructions",
                   how=f"BENCH {b.n} steps: {b.ticks} SysTick ticks x {per_tick:g} instructions/tick "
                       f"(QEMU -icount shift={ICOUNT_SHIFT}: 1 instruction = {1 << ICOUNT_SHIFT} ns, SysTick {b.tick_hz / 1e6:g} MHz)")
    else:
        per_step = b.ticks / b.tick_hz * 1e9 / b.n
        kind = "emulated wall clock" if target == "aarch64" else "wall clock"
        out.update(per_step=per_step, unit="ns",
                   how=f"BENCH {b.n} steps: {per_step:.0f} ns/step, {kind} (no instruction count on this target)")
    return out


def verify_link(link, ref: Reference, opts: Options, where: str, log, window: int) -> dict:
    """HELLO (model check first), stream everything, BENCH; returns the per-target record.
    Link and protocol errors get the target (or port) in front of their message."""
    try:
        return _verify_link(link, ref, opts, where, log, window)
    except (LinkError, ProtocolError) as e:
        msg = str(e) if str(e).startswith(f"{where}:") else f"{where}: {e}"
        if isinstance(e, (NoReply, TruncatedFrame)) and "--timeout" not in msg:
            msg += " (the firmware hung or is slower than --timeout allows)"
        e.args = (msg,) + e.args[1:]
        raise


def _verify_link(link, ref: Reference, opts: Options, where: str, log, window: int) -> dict:
    client = Client(link, timeout=opts.timeout, window=window)
    client.sync()
    h = client.hello()
    check_hello(h, ref, where, opts.model)
    N, T, _ = ref.x_q14.shape
    log(f"{where}: HELLO ok (protocol {h.proto_version}, target {h.target}, kernel {h.kernel}, "
        f"model {h.hash_hex}); streaming {N} x {T} steps")
    step_every = max(1, N // 4)

    def progress(done, total):
        if done % step_every == 0 or done == total:
            log(f"{where}: {done}/{total} sequences")
    t0 = time.monotonic()
    y = client.run_sequences(ref.x_q14, progress=progress)
    stream_s = time.monotonic() - t0
    bench = client.bench(opts.bench_steps)
    return {"hello": h, "y_q14": y, "stream_s": stream_s, "frames": client.frames_sent, "bench": bench}


def summarise(target: str, run: dict, ref: Reference, emulated: bool) -> dict:
    from codegen.golden import dequantize_output
    h, y = run["hello"], run["y_q14"]
    N, T = y.shape
    bad = np.argwhere(y != ref.golden_q14)
    first = None
    if len(bad):
        s, t = (int(v) for v in bad[0])
        first = {"sequence": s, "step": t, "expected": int(ref.golden_q14[s, t]), "got": int(y[s, t]),
                 "expected_float": float(ref.golden_q14[s, t]) / 16384, "got_float": float(y[s, t]) / 16384}
    yf = dequantize_output(y)
    gf = dequantize_output(ref.golden_q14)
    return {
        "target": target, "firmware_target": h.target, "kernel": h.kernel,
        "expected_kernel": EXPECTED_KERNEL.get(target), "model_hash": h.hash_hex,
        "sequences": N, "steps_per_sequence": T, "steps": int(N * T), "frames_sent": run["frames"],
        "mismatches": int(len(bad)), "first_mismatch": first,
        "mse_vs_truth": mse_pair(yf, ref.truth), "mse_vs_float_ternary": mse_pair(yf, ref.float_ternary),
        "golden_mse_vs_truth": mse_pair(gf, ref.truth),
        "golden_mse_vs_float_ternary": mse_pair(gf, ref.float_ternary),
        "bench": instructions(target, run["bench"], emulated),
        "stream_s": round(run["stream_s"], 3),
    }


def _fmt_mse(d):
    w = "n/a" if d["washout"] is None else f"{d['washout']:.4e}"
    return f"all {d['all']:.4e}   washout (t>={WASHOUT}) {w}"


def print_target(r: dict, out=sys.stdout) -> None:
    p = lambda s: print(s, file=out)  # noqa: E731
    p(f"== {r['target']}: kernel {r['kernel']}, model {r['model_hash']}"
      + (f", {r['firmware']}" if r.get("firmware") else ""))
    p(f"  steps streamed        {r['steps']} ({r['sequences']} sequences x {r['steps_per_sequence']} steps, "
      f"{r['frames_sent']} frames sent)")
    if r["mismatches"] == 0:
        p(f"  mismatches            0 (bit-exact with the golden model)")
    else:
        f = r["first_mismatch"]
        p(f"  mismatches            {r['mismatches']} of {r['steps']}; first: sequence {f['sequence']}, "
          f"step {f['step']}: expected {f['expected']} ({f['expected_float']:+.6f}), "
          f"got {f['got']} ({f['got_float']:+.6f})")
    same = r["mse_vs_truth"] == r["golden_mse_vs_truth"]
    p(f"  MSE vs truth          {_fmt_mse(r['mse_vs_truth'])}   "
      + ("(= golden model)" if same else f"(golden model: {_fmt_mse(r['golden_mse_vs_truth'])})"))
    p(f"  MSE vs float ternary  {_fmt_mse(r['mse_vs_float_ternary'])}")
    b = r["bench"]
    if b["per_step"] is None:
        p(f"  per step              n/a ({b['how']})")
    elif b["unit"] == "instructions":
        p(f"  instructions/step     {b['per_step']:.1f}  ({b['how']})")
    else:
        p(f"  time/step             {b['per_step']:.0f} ns  ({b['how']})")
    fp = r.get("footprint")
    if fp and fp.get("flash") is not None:
        stack = f" incl. {fp['stack']} B stack" if fp.get("stack") else ""
        p(f"  flash / RAM           {fp['flash']} B / {fp['ram']} B{stack}  ({fp['how']})")
    else:
        p(f"  flash / RAM           n/a" + (f" ({fp['how']})" if fp else " (no ELF given)"))
    p(f"  wall time             {r['wall_s']:.1f} s (build {r.get('build_s', 0):.1f} s, stream {r['stream_s']:.1f} s)")
    sys.stdout.flush()


def write_json_atomic(path, data) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def run(opts: Options, log) -> int:
    """Verify every requested target; prints the per-target blocks and returns the exit code."""
    t_all = time.monotonic()
    board = opts.port is not None
    targets = ["board"] if board else list(opts.targets)
    if not board:
        bad = [t for t in targets if t not in KNOWN_TARGETS]
        if bad:
            raise HostError(f"unknown target {', '.join(bad)}: expected {', '.join(KNOWN_TARGETS)} or all")
        if opts.firmware and len(targets) != 1:
            raise HostError("--firmware needs exactly one --target")
        check_tools(targets, build=opts.firmware is None, run=True)
    log(f"verify: model {opts.model}")
    ref = load_reference(opts.model, opts.sequences, log)
    log(f"verify: model {ref.model.hash_hex} (I={ref.model.I} H={ref.model.H}, task {ref.art.task}); data: "
        f"{ref.data_source}, {ref.x.shape[0]} x {ref.x.shape[1]} steps")
    reports = []
    for target in targets:
        t0 = time.monotonic()
        build_s = 0.0
        if board:
            fw = Firmware("board", Path(opts.firmware) if opts.firmware else None, None, ref.model.hash_hex)
            with open_url(opts.port, opts.baud) as link:
                r = verify_link(link, ref, opts, opts.port, log, window=opts.window or 1)
            rec = summarise(r["hello"].target, r, ref, emulated=False)
            rec["port"] = opts.port
        else:
            if opts.firmware:
                fw = Firmware(target, Path(opts.firmware), None, ref.model.hash_hex)
            else:
                fw = build(target, opts.model, ref.model.hash_hex, opts.build_root, log=log)
                build_s = time.monotonic() - t0
                log(f"{target}: firmware {fw.elf} ({'built' if fw.built else 'up to date'}, {build_s:.1f} s)")
            with launch(target, fw.elf, first_port=opts.qemu_port, log=log) as link:
                r = verify_link(link, ref, opts, target, log, window=opts.window or 16)
            rec = summarise(target, r, ref, emulated=True)
        if fw.elf is not None:
            rec["firmware"] = str(fw.elf)
            rec["footprint"] = footprint(rec["firmware_target"] if board else target, fw.elf)
        rec["build_s"] = round(build_s, 3)
        rec["wall_s"] = round(time.monotonic() - t0, 3)
        reports.append(rec)
        print_target(rec)
    total = time.monotonic() - t_all
    failed = [r for r in reports if r["mismatches"]]
    print(f"verify: {'FAIL' if failed else 'PASS'}: {len(reports) - len(failed)}/{len(reports)} targets "
          f"bit-exact over {ref.x.shape[0]} x {ref.x.shape[1]} steps; wall time {total:.1f} s")
    if opts.json_path:
        write_json_atomic(opts.json_path, {
            "format": 1, "model": str(opts.model), "model_hash": ref.model.hash_hex, "task": ref.art.task,
            "data": ref.data_source, "washout": WASHOUT, "passed": not failed, "wall_s": round(total, 3),
            "targets": reports})
        log(f"verify: report written to {opts.json_path}")
    if failed:
        f = failed[0]
        m = f["first_mismatch"]
        raise VerifyFailed(f"{sum(r['mismatches'] for r in failed)} outputs differ from the golden model on "
                           f"{', '.join(r['target'] for r in failed)} (first: {f['target']} sequence "
                           f"{m['sequence']}, step {m['step']}: expected {m['expected']}, got {m['got']})")
    return 0
