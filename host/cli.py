"""Command line of the host: `python -m host verify ...`, `python -m host bench ...` and `python -m host flash ...`.

Every failure ends in one `error: ...` line on stderr (exit status 2; 1 when outputs differ
from the golden model; 130 on Ctrl-C / SIGTERM). Progress goes to stderr, results to stdout.
"""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys

import serial

from cfcbase.errors import ArtifactError
from cfcbase.table import SeriesError
from cfcbase.version import version_line
from codegen.errors import CodegenError
from codegen.export import KERNELS

from . import bench, verify
from .errors import HostError
from .flash import flash
from .model import DEFAULT_MODEL
from .targets import BARE_METAL, DEFAULT_TARGETS as TARGETS, KNOWN_TARGETS, TARGETS as TABLE

# bench: the bare-metal targets whose QEMU tick source runs at the chip's clock (stm32f405 is the
# cortex-m4 core, whose figures `bench --target cortex-m4` gives).
BENCH_TARGETS = tuple(t for t in BARE_METAL if TABLE[t].qemu_tick_hz is None)

EPILOG_VERIFY = f"""\
examples:
  python -m host verify --qemu                          every default target, {DEFAULT_MODEL}
  python -m host verify --qemu --target cortex-m4 --json report.json
  python -m host verify --port /dev/ttyACM0 --baud 115200   a board running trix_fw

exit status: 0 all outputs bit-exact, 1 a mismatch, 2 any other error, 130 interrupted.
See docs/host.md."""


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _targets(value: str) -> list:
    if value == "all":
        return list(TARGETS)
    out = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in out if v not in KNOWN_TARGETS]
    if bad or not out:
        raise argparse.ArgumentTypeError(f"unknown target {', '.join(bad) or value!r}: choose from "
                                         f"{', '.join(KNOWN_TARGETS)} (comma separated) or all")
    return list(dict.fromkeys(out))


BENCH_HIDDEN = (4, 8, 16, 32, 64, 128)   # the random I = 1 test models (H = 4: int8 only)


def _hidden_list(value: str) -> list:
    try:
        out = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        out = []
    if not out or any(h not in BENCH_HIDDEN for h in out):
        raise argparse.ArgumentTypeError(f"--hidden takes H out of {', '.join(map(str, BENCH_HIDDEN))} "
                                         f"(comma separated), not {value!r}")
    return list(dict.fromkeys(out))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m host",
                                description="Build the trixcfc firmware, run it under QEMU or on a board, and "
                                            "check its outputs bit for bit against the golden model.")
    p.add_argument("--version", action="version", version=version_line(), help="print the version and exit")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="{verify,bench,flash}")
    verify_options(sub)
    bench_options(sub)
    flash_options(sub)
    return p


def verify_options(sub) -> None:
    v = sub.add_parser("verify", help="stream the test set through the firmware and check it",
                       description="Stream the model's test set (default: all 256 sine sequences x 50 steps) "
                                   "through the firmware and compare every output with the golden integer model; "
                                   "print per target steps, mismatches, MSE (all steps and washout t>=5) against "
                                   "the truth and the float ternary model beside the persistence and AR(p) "
                                   "baselines on the same steps (and whether the model beats them), instructions "
                                   "per step, flash and RAM.",
                       epilog=EPILOG_VERIFY, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = v.add_mutually_exclusive_group(required=True)
    where.add_argument("--qemu", action="store_true",
                       help="build the firmware (what is missing, in build/<target>-<modelhash>) and run it "
                            "emulated: native and aarch64 (qemu-aarch64) behind a pseudo-terminal, the bare-metal "
                            "targets in qemu-system-arm on the machine of the target table ("
                            + ", ".join(f"{t} {TABLE[t].qemu}" for t in BARE_METAL) + ") on a loopback TCP port")
    where.add_argument("--port", metavar="DEV",
                       help="a board running trix_fw: serial device path (e.g. /dev/ttyACM0) or pyserial URL")
    v.add_argument("--target", type=_targets, default=list(TARGETS), metavar="LIST",
                   help=f"with --qemu: comma-separated targets out of {', '.join(KNOWN_TARGETS)}, or all (default: "
                        f"all = {', '.join(TARGETS)}; the others only on request)")
    v.add_argument("--model", default=DEFAULT_MODEL, metavar="NPZ",
                   help="the trained artifact (docs/artifact.md) the firmware must run; its model hash is checked "
                        f"against the firmware's HELLO before anything is streamed (default: {DEFAULT_MODEL})")
    v.add_argument("--data", default=None, metavar="FILE",
                   help="for a model trained on your own series (trainer factorial --data): read its test block "
                        "from FILE instead of the file named in the artifact (same columns). Without it the file is "
                        "found relative to the artifact's directory (or inside its Python package, pkg:) and must "
                        "be the file the model was trained on (its sha256 is in the artifact)")
    v.add_argument("--allow-lossy", action="store_true",
                   help="stream a model whose integer arithmetic is far from its float model (the lossy gate of "
                        "codegen export, docs/codegen.md, refuses it otherwise); it is still checked bit for bit "
                        "against the golden model")
    v.add_argument("--sequences", type=int, default=None, metavar="N",
                   help="stream only the first N test sequences (default: all); more than the test set has "
                        "repeats it from the start (a soak: e.g. --sequences 20000 = 1,000,000 steps of sine)")
    v.add_argument("--kernel", choices=KERNELS, default="packed",
                   help="the export's kernel (codegen export --kernel): packed (default: the target table's kernel), "
                        "code (the weights as code) or ref (the portable reference on every target: no lookup table, "
                        "the least RAM); the report names the kernel that ran, its instructions and RAM")
    v.add_argument("--stream", type=int, default=None, metavar="K",
                   help="a classifier: also stream the test windows end to end as one continuous signal (one "
                        "RESET, the state carried on) with a decision (DECIDE) every K steps over the steps since "
                        "the previous one; every decision is checked bit for bit against the golden model, with "
                        "its accuracy and the detection latency in steps (K: 1..65535)")
    v.add_argument("--json", dest="json_path", metavar="FILE",
                   help="also write the full report as JSON (atomically: temp file + rename)")
    v.add_argument("--baud", type=int, default=115200, metavar="N",
                   help="with --port: baud rate (default 115200; ignored by USB CDC devices)")
    v.add_argument("--firmware", metavar="ELF",
                   help="use this trix_fw instead of building (one --target; with --port: only for flash/RAM)")
    v.add_argument("--qemu-port", type=int, default=None, metavar="PORT",
                   help="first loopback TCP port to try for QEMU's UART (default: a free one; a busy port is "
                        "replaced by another)")
    v.add_argument("--build-dir", dest="build_root", default=None, metavar="DIR",
                   help="where the build trees go (default: build/)")
    v.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="seconds to wait for each reply before giving up (default 10)")
    v.add_argument("--window", type=int, default=None, metavar="N",
                   help="requests in flight (default 16 emulated, 1 on a board)")
    v.add_argument("--bench-steps", type=int, default=None, metavar="N",
                   help="cell steps timed by BENCH (1..4096, default 1000; a classifier: one test window, its steps "
                        "and the logits)")


def bench_options(sub) -> None:
    b = sub.add_parser("bench", help="instructions per matvec / cell step: ternary ref, lut, dsp, code vs dense "
                                     "int8 SMLAD",
                       description="Build the bench image (firmware/tests/bench_kernels, not trix_fw) for a "
                                   "Cortex-M target and run it under qemu-system-arm -icount shift=0: instructions "
                                   "per matrix-vector product, per weight and per cell step of the ternary "
                                   "kernels built for the target (ref, lut = table lookup, dsp = SMLAD, dsp/lut = "
                                   "the M4 runtime choice, mve on M55, code = each test model's weights as code) and "
                                   "of a dense int8 baseline (CMSIS-NN style: SXTB16 + SMLAD) of the same shapes, "
                                   "each step through the runtime and the reference per-row path side by side, and "
                                   "bytes of weight storage for each (for code: its function's size in the image).")
    b.add_argument("--qemu", action="store_true", required=True, help="run emulated (the only mode)")
    b.add_argument("--hidden", type=_hidden_list, default=[16, 32], metavar="LIST",
                   help="comma-separated H out of 4, 8, 16, 32, 64, 128 (default 16,32; random test models with I = 1, "
                        "ternary from 8, with both heads int8 (kernels s8-*) at 4, 8, 16); "
                        "three or more H also print the growth exponent fitted per kernel")
    b.add_argument("--target", default="cortex-m4", choices=BENCH_TARGETS,
                   help="Cortex-M target (default cortex-m4, QEMU mps2-an386): "
                        + ", ".join(f"{t} ({TABLE[t].core}, {TABLE[t].qemu})" for t in BENCH_TARGETS))
    b.add_argument("--model", default=DEFAULT_MODEL, metavar="NPZ",
                   help="artifact used to configure the build tree (shared with verify; the bench runs the "
                        "built-in test models)")
    b.add_argument("--build-dir", dest="build_root", default=None, metavar="DIR",
                   help="where the build trees go (default: build/)")


def flash_options(sub) -> None:
    f = sub.add_parser("flash", help="write the Cortex-M image to a board through pyOCD (optional extra)",
                       description="Build trix_fw for a bare-metal target and program it with pyOCD "
                                   "(pip install 'trixcfc[flash]'). The image uses the memory map of the "
                                   "target's chip or board (host/targets.py): stm32f405 for STM32F405/407 boards "
                                   "(USART1 on PA9/PA10), nrf51 for nRF51822 boards such as the micro:bit v1.")
    f.add_argument("--target", default="cortex-m4", choices=BARE_METAL,
                   help="firmware target (default cortex-m4): "
                        + ", ".join(f"{t} ({TABLE[t].board})" for t in BARE_METAL))
    f.add_argument("--model", default=DEFAULT_MODEL, metavar="NPZ", help="the trained artifact")
    f.add_argument("--firmware", metavar="ELF", help="program this ELF instead of building")
    f.add_argument("--pyocd-target", default=None, metavar="NAME",
                   help="pyOCD target type (default: the target table's, "
                        + ", ".join(f"{t} {TABLE[t].pyocd}" for t in BARE_METAL if TABLE[t].pyocd)
                        + "; auto-detect for the others; for a chip pyOCD does not know, "
                        + ", ".join(t for t in BARE_METAL if TABLE[t].flash_tool)
                        + ", a target type from a CMSIS pack, else the image is built and flash names "
                          "the tool that writes it)")
    f.add_argument("--probe", default=None, metavar="UID", help="debug probe unique ID (default: the only one)")
    f.add_argument("--build-dir", dest="build_root", default=None, metavar="DIR",
                   help="where the build trees go (default: build/)")


def cmd_verify(a) -> int:
    if a.bench_steps is not None and not 1 <= a.bench_steps <= 4096:
        raise HostError("--bench-steps must be in 1..4096")
    opts = verify.Options(targets=a.target, model=a.model, sequences=a.sequences, json_path=a.json_path,
                          port=a.port, baud=a.baud, firmware=a.firmware, qemu_port=a.qemu_port,
                          build_root=a.build_root, timeout=a.timeout, window=a.window, bench_steps=a.bench_steps,
                          data=a.data, allow_lossy=a.allow_lossy, stream=a.stream, kernel=a.kernel)
    return verify.run(opts, _log)


def cmd_bench(a) -> int:
    return bench.run(a.target, a.model, a.hidden, a.build_root, log=_log)


def cmd_flash(a) -> int:
    return flash(a, _log)


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    old = signal.signal(signal.SIGTERM, _on_sigterm)
    # Ctrl-C must always reach the cleanup, also when the parent started us with SIGINT
    # ignored (a non-interactive shell's background job): Python then installs no handler.
    old_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return {"verify": cmd_verify, "bench": cmd_bench, "flash": cmd_flash}[args.cmd](args)
    except KeyboardInterrupt:
        print("error: interrupted; emulators stopped", file=sys.stderr)
        return 130
    except HostError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except Exception as e:  # noqa: BLE001 - the one place that turns everything into one line
        return _other_error(e)
    finally:
        signal.signal(signal.SIGTERM, old)
        signal.signal(signal.SIGINT, old_int)


def _other_error(e: Exception) -> int:
    if isinstance(e, (CodegenError, ArtifactError, SeriesError)):
        print(f"error: {e}", file=sys.stderr)
    elif isinstance(e, serial.SerialException):
        print(f"error: serial link: {e}", file=sys.stderr)
    elif isinstance(e, subprocess.TimeoutExpired):
        print(f"error: {' '.join(map(str, e.cmd))} timed out after {e.timeout} s", file=sys.stderr)
    elif isinstance(e, OSError):
        print(f"error: {e.strerror or e}{': ' + str(e.filename) if e.filename else ''}", file=sys.stderr)
    else:
        raise e
    return 2
