"""Run one bare-metal program under qemu-system-arm to its end and exit with its exit code.

    python -m host.qemu_run --target cortex-m4 [--icount] [--timeout S] ELF
    python3 host/qemu_run.py ...            (the same, as a file: what CMake's ctest runs)

The ctest emulator of every Cortex-M build (CMAKE_CROSSCOMPILING_EMULATOR in
cmake/toolchain-arm-none-eabi.cmake). QEMU runs with the board's UART on stdout (copied here as it
comes), `-no-reboot`, `-monitor none`, no input and no semihosting (host.qemu.qemu_system_argv).
The program ends by printing `*** trixcfc: exit <code>` and requesting a reset (startup.c,
trix_exit); QEMU then exits and so does this runner, with <code> (a HardFault report ends with
125, an unexpected exception with 126). Statuses of its own, each with a line on stderr: 123
QEMU ended without the exit marker, 124 the timeout fired (default 600 s), 127 QEMU could not
be started. Standard library only: any python3 runs it.
"""
from __future__ import annotations

import argparse
import os
import sys

if __package__ in (None, ""):          # run as a file: make the package `host` importable
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from host.errors import HostError                                          # noqa: E402
from host.qemu import RUN_TIMEOUT_S, run_image                              # noqa: E402
from host.targets import BARE_METAL                                        # noqa: E402

STATUS_NOT_STARTED = 127


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m host.qemu_run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", required=True, choices=BARE_METAL, help="a bare-metal row of the target table")
    ap.add_argument("--icount", action="store_true", help="-icount shift=0: one instruction = 1 ns (instruction counts)")
    ap.add_argument("--timeout", type=float, default=RUN_TIMEOUT_S,
                    help=f"seconds before QEMU is stopped and the run fails with 124 (default {RUN_TIMEOUT_S:g})")
    ap.add_argument("elf", help="the program (ELF; qemu-system-arm -kernel)")
    a = ap.parse_args(argv)
    try:
        r = run_image(a.target, a.elf, timeout=a.timeout, icount=a.icount, echo=sys.stdout.buffer)
    except HostError as e:
        print(f"qemu_run: error: {e}", file=sys.stderr)
        return STATUS_NOT_STARTED
    if r.message:
        print(f"qemu_run: {r.message}", file=sys.stderr)
    return r.status


if __name__ == "__main__":
    sys.exit(main())
