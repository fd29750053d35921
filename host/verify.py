"""`python -m host verify`: stream the test set through the firmware and check it bit for bit
against the golden integer model (codegen.golden), with MSE against the truth and against
the float ternary model, instructions per step (BENCH), flash and RAM, and wall time.

The model is loaded and exported once (host.model); the data and the expected outputs come
from host.reference; the printed blocks and the JSON from host.report. With several targets
they are built and streamed concurrently, up to one per CPU core, and reported in the order
given."""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import protocol as P
from .build import Firmware, build, footprint
from .client import Client
from .errors import (HostError, LinkError, ModelMismatch, NoReply, ProtocolError, StateLost,
                     TruncatedFrame, VerifyFailed)
from .model import DEFAULT_MODEL, load_model
from .qemu import ICOUNT_SHIFT, check_tools, launch, stack_high_water
from .heads import print_target
from .reference import Reference, load_reference
from .report import write_json_atomic
from .targets import DEFAULT_TARGETS as TARGETS
from .targets import KNOWN_TARGETS, TARGETS as TABLE
from .transport import open_url
from cfcbase.metrics import WASHOUT
from cfcbase.series import Q14_LIMIT
from codegen.golden import Q14_ONE


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
    bench_steps: int | None = None    # default 1000; a classifier: one window
    data: str | None = None           # a model trained on a user's series: its file (default: the artifact's)
    allow_lossy: bool = False         # stream a model the lossy gate refuses (as codegen export --allow-lossy)
    stream: int | None = None         # a classifier: also the windows as one stream, a DECIDE every N steps
    kernel: str = "packed"            # codegen export --kernel: packed (the target's), code or ref


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
    row = TABLE.get(target)
    if b.tick_hz == 0 or b.n == 0:
        out.update(per_step=None, unit=None, how="the target has no tick counter")
    elif row is not None and row.count == "instructions" and emulated:
        # The rate the QEMU model's tick source counts virtual time at: the chip's clock, except
        # where the model differs from the chip (the target table's qemu_tick_hz).
        hz = row.emulated_tick_hz
        per_tick = 1e9 / hz / (1 << ICOUNT_SHIFT)   # 1 instruction = 2^shift ns
        source = "TIMER0" if row.ticks == "nrf51_timer" else "SysTick"
        model = "" if hz == b.tick_hz else f"; the chip's {b.tick_hz / 1e6:g} MHz is not modelled"
        out.update(per_step=b.ticks * per_tick / b.n, unit="instructions",
                   how=f"BENCH {b.n} steps: {b.ticks} {source} ticks x {per_tick:g} instructions/tick "
                       f"(QEMU -icount shift={ICOUNT_SHIFT}: 1 instruction = {1 << ICOUNT_SHIFT} ns, {source} "
                       f"{hz / 1e6:g} MHz in QEMU{model})")
    else:
        per_step = b.ticks / b.tick_hz * 1e9 / b.n
        kind = "emulated wall clock" if target == "aarch64" else "wall clock"
        out.update(per_step=per_step, unit="ns",
                   how=f"BENCH {b.n} steps: {per_step:.0f} ns/step, {kind} (no instruction count on this target)")
    return out


def verify_link(link, ref: Reference, opts: Options, where: str, log, window: int, cancel=None) -> dict:
    """HELLO (model check first), stream everything, BENCH; returns the per-target record.
    Link and protocol errors get the target (or port) in front of their message. ``cancel``:
    called after every sequence; it raises to stop the stream."""
    try:
        return _verify_link(link, ref, opts, where, log, window, cancel)
    except (LinkError, ProtocolError, StateLost) as e:
        msg = str(e) if str(e).startswith(f"{where}:") else f"{where}: {e}"
        if isinstance(e, (NoReply, TruncatedFrame)) and "--timeout" not in msg:
            msg += " (the firmware hung or is slower than --timeout allows)"
        e.args = (msg,) + e.args[1:]
        raise


def _verify_link(link, ref: Reference, opts: Options, where: str, log, window: int, cancel=None) -> dict:
    client = Client(link, timeout=opts.timeout, window=window)
    client.sync()
    h = client.hello()
    check_hello(h, ref, where, opts.model)
    N, T, _ = ref.x_q14.shape
    again = f" after {client.hello_attempts} HELLO attempts" if client.hello_attempts > 1 else ""
    log(f"{where}: HELLO ok{again} (protocol {h.proto_version}, target {h.target}, kernel {h.kernel}, "
        f"model {h.hash_hex}); streaming {N} x {T} steps")
    step_every = max(1, N // 4)
    probe = getattr(link, "stack_high_water", None)
    soak = {"rss_start": host_rss(), "stack_start": None}

    def progress(done, total):
        if cancel is not None:
            cancel()
        if done % step_every == 0 or done == total:
            log(f"{where}: {done}/{total} sequences")
        if done == 1 and probe is not None and soak["stack_start"] is None:
            soak["stack_start"] = probe()
    t0 = time.monotonic()
    y = client.run_sequences(ref.x_q14, progress=progress, expected=ref.golden_q14, **ref.head.stream(ref))
    stream_s = time.monotonic() - t0
    soak["rss_end"] = host_rss()
    soak["stack_end"] = probe() if probe is not None else None
    for e in client.state_losses:
        log(f"{where}: the device lost its state at sequence {e['sequence']}, step {e['step']} ({e['what']}); "
            f"sequence {e['sequence']} ran again from h = 0, bit-exact")
    out = {}
    st = ref.stream_expected
    if st is not None:
        D = len(st["class"])
        log(f"{where}: streaming the {N} windows as one signal of {len(st['x'])} steps, a DECIDE every "
            f"{st['every']} steps ({D} decisions)")
        every = max(1, D // 4)

        def stream_progress(done, total):
            if cancel is not None:
                cancel()
            if done % every == 0 or done == total:
                log(f"{where}: {done}/{total} decisions")
        out["stream"] = client.run_stream(st["x"], st["every"], st["logits"].shape[1], progress=stream_progress)
    bench = client.bench(opts.bench_steps or ref.head.bench_steps(T))
    return {"hello": h, "y_q14": y, "stream_s": stream_s, "frames": client.frames_sent, "bench": bench,
            "state_losses": client.state_losses, "soak": soak, "logits": client.window_logits,
            "classes": client.window_class, "window_steps": client.window_steps, "export_kernel": opts.kernel, **out}


def host_rss() -> int | None:
    """This process's resident set size in bytes (Linux /proc), None elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def summarise(target: str, run: dict, ref: Reference, emulated: bool) -> dict:
    """A target's record: what every model's has (the per-step outputs against the golden model's,
    the kernel, BENCH, the soak figures), then what the model's head adds (host.heads)."""
    h, y = run["hello"], run["y_q14"]
    N, T = y.shape
    bad = np.argwhere(y != ref.golden_q14)
    first = None
    if len(bad):
        s, t = (int(v) for v in bad[0])
        first = {"sequence": s, "step": t, "expected": int(ref.golden_q14[s, t]), "got": int(y[s, t]),
                 "expected_float": float(ref.golden_q14[s, t]) / Q14_ONE, "got_float": float(y[s, t]) / Q14_ONE}
    rec = {
        "target": target, "head": ref.head.kind, "firmware_target": h.target, "kernel": h.kernel,
        # the target table names the kernel of a packed ternary model, an export's own kernel (code, ref) runs
        # as itself; an int8 matrix runs TRIX_MATVEC_S8
        "expected_kernel": (None if ref.model.weights_s8 is not None or target not in TABLE else
                            TABLE[target].kernel if run["export_kernel"] == "packed" else run["export_kernel"]),
        "export_kernel": run["export_kernel"],
        "model_hash": h.hash_hex,
        "sequences": N, "steps_per_sequence": T, "frames_sent": run["frames"],
        "steps": int(N * T) if ref.lengths is None else int(np.sum(ref.lengths)),
        "mismatches": int(len(bad)), "first_mismatch": first, "state_losses": run.get("state_losses", []),
        "soak": _soak_record(run.get("soak")),
        "bench": instructions(target, run["bench"], emulated),
        "stream_s": round(run["stream_s"], 3),
    }
    return ref.head.summarise(rec, run, ref)


def _soak_record(soak):
    if not soak:
        return None
    out = {"host_rss_start": soak["rss_start"], "host_rss_end": soak.get("rss_end")}
    for k in ("start", "end"):
        v = soak.get(f"stack_{k}")
        out[f"stack_high_water_{k}"] = v[0] if v else None
        if v:
            out["stack_size"] = v[1]
    return out


class Cancelled(HostError):
    """Another target of the same run failed, or the run was interrupted: this one stopped."""


class _Run:
    """What the concurrent targets of one run share: the cancel flag and the open links (closed
    from the main thread on an error or Ctrl-C, which ends their QEMUs at once)."""

    def __init__(self):
        self.cancel = threading.Event()
        self._links = set()
        self._lock = threading.Lock()

    def check(self, where):
        if self.cancel.is_set():
            raise Cancelled(f"{where}: stopped (another target failed or the run was interrupted)")

    def opened(self, link):
        with self._lock:
            self._links.add(link)
        self.check(getattr(link, "description", "link"))

    def closed(self, link):
        with self._lock:
            self._links.discard(link)

    def stop_all(self):
        self.cancel.set()
        with self._lock:
            links = list(self._links)
        for link in links:
            try:
                link.close()
            except Exception:  # noqa: BLE001 - best effort: the worker's own `with` closes it too
                pass


def _add_figures(rec, fw, fp_target, build_s, t0):
    if fw.elf is not None:
        rec["firmware"] = _shown(fw.elf)
        rec["footprint"] = footprint(fp_target, fw.elf) if fp_target in TABLE else None
    rec["build_s"] = round(build_s, 3)
    rec["wall_s"] = round(time.monotonic() - t0, 3)
    return rec


def _shown(path) -> str:
    """A path as reports show it: relative to the current directory when it lies inside it (a
    report written into results/ names no machine's directories)."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def verify_target(target, model, ref: Reference, opts: Options, log, state: _Run) -> dict:
    """Build (unless --firmware), start under emulation, stream, summarise: one target's record."""
    t0 = time.monotonic()
    build_s = 0.0
    if opts.firmware:
        fw = Firmware(target, Path(opts.firmware), None, model.hash_hex)
    else:
        fw = build(target, model, opts.build_root, log=log)
        build_s = time.monotonic() - t0
        log(f"{target}: firmware {fw.elf} ({'built' if fw.built else 'up to date'}, {build_s:.1f} s)")
    state.check(target)
    with launch(target, fw.elf, first_port=opts.qemu_port, log=log) as link:
        state.opened(link)
        try:
            if getattr(link, "monitor", None) is not None:
                link.stack_high_water = lambda: stack_high_water(link.monitor, fw.elf)
            r = verify_link(link, ref, opts, target, log, window=opts.window or 16,
                            cancel=lambda: state.check(target))
        finally:
            state.closed(link)
    return _add_figures(summarise(target, r, ref, emulated=True), fw, target, build_s, t0)


def verify_board(model, ref: Reference, opts: Options, log) -> dict:
    t0 = time.monotonic()
    fw = Firmware("board", Path(opts.firmware) if opts.firmware else None, None, model.hash_hex)
    with open_url(opts.port, opts.baud) as link:
        r = verify_link(link, ref, opts, opts.port, log, window=opts.window or 1)
    rec = summarise(r["hello"].target, r, ref, emulated=False)
    rec["port"] = opts.port
    return _add_figures(rec, fw, rec["firmware_target"], 0.0, t0)


def concurrency(n_targets: int) -> int:
    """Targets built and streamed at once: one per CPU core (a build's compiler and a QEMU each
    keep a core busy), never more than there are targets."""
    return max(1, min(n_targets, os.cpu_count() or 1))


def run_targets(targets, model, ref, opts, log) -> list:
    """Every target's record, in the order of ``targets``; each printed as soon as it and all
    before it are done. The first failure stops the others and is raised."""
    state = _Run()
    recs = [None] * len(targets)
    printed = 0
    workers = concurrency(len(targets))
    if len(targets) > 1:
        log(f"verify: {len(targets)} targets, {workers} at a time")
    ex = ThreadPoolExecutor(workers, thread_name_prefix="verify")
    futs = {ex.submit(verify_target, t, model, ref, opts, log, state): i for i, t in enumerate(targets)}
    try:
        pending = set(futs)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for f in done:
                recs[futs[f]] = f.result()          # the first error ends the run here
            while printed < len(recs) and recs[printed] is not None:
                print_target(recs[printed])
                printed += 1
    except BaseException:
        state.stop_all()
        ex.shutdown(wait=True, cancel_futures=True)
        raise
    ex.shutdown(wait=True)
    return recs


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
    model = load_model(opts.model, data_path=opts.data, allow_lossy=opts.allow_lossy, kernel=opts.kernel)
    opts.model = model.path
    log(f"verify: model {model.path}: {model.hash_hex} (I={model.int_model.I} H={model.int_model.H}, "
        f"task {model.art.task.name}); {model.exported.lossy_text()}")
    ref = load_reference(model, opts.sequences, log)
    log(f"verify: data: {ref.data_source}, {ref.x.shape[0]} x {ref.x.shape[1]} steps")
    if opts.stream is not None:
        ref.stream_expected = ref.head.stream_expected(ref, opts.stream)
    sat = ref.saturation
    print(f"saturation: inputs {sat['inputs']} of {sat['input_values']} values{ref.head.saturation_text(sat)} at |v| >= {Q14_LIMIT:g} "
          f"(Q14); pre-activations {sat['pre_clamped']} of {sat['pre_values']} outside the tables' [-8, 8) "
          f"(golden model)")
    if board:
        reports = [verify_board(model, ref, opts, log)]
        print_target(reports[0])
    else:
        reports = run_targets(targets, model, ref, opts, log)
    total = time.monotonic() - t_all
    failed = [r for r in reports if r["mismatches"]]
    what = ref.head.pass_words(reports, ref)
    n = ref.lengths
    shape = (f"{ref.x.shape[0]} x {ref.x.shape[1]} steps" if n is None else
             f"{ref.x.shape[0]} windows of {int(n.min())}..{int(n.max())} steps ({int(n.sum())} in all)")
    print(f"verify: {'FAIL' if failed else 'PASS'}: {len(reports) - len(failed)}/{len(reports)} targets "
          f"bit-exact over {shape}{what}; wall time {total:.1f} s")
    if opts.json_path:
        write_json_atomic(opts.json_path, {
            "format": 1, "model": str(opts.model), "model_hash": model.hash_hex, "task": ref.art.task.name,
            "data": ref.data_source, "washout": WASHOUT, "passed": not failed, "wall_s": round(total, 3),
            "saturation": ref.saturation,
            "targets": reports})
        log(f"verify: report written to {opts.json_path}")
    if failed:
        f = failed[0]
        m = f["first_mismatch"] or {"sequence": "?", "step": "?", "expected": "?", "got": "?"}
        where = (f"sequence {m['sequence']}, " + (f"logit {m['class']}" if "class" in m else f"step {m['step']}")
                 if "decision" not in m else f"stream decision {m['decision']} (step {m['step']}), logit {m['class']}")
        raise VerifyFailed(f"{sum(r['mismatches'] for r in failed)} outputs differ from the golden model on "
                           f"{', '.join(r['target'] for r in failed)} (first: {f['target']} {where}: "
                           f"expected {m['expected']}, got {m['got']})")
    return 0
