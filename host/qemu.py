"""Running the firmware under emulation, one `Link` per target.

- bare-metal targets (cortex-m4, cortex-m3, stm32f405, nrf51, cortex-m7, cortex-m33, cortex-m55):
  `qemu-system-arm -M <machine of the target table>` with the board's UART on
  `-serial tcp:127.0.0.1:PORT,server=on,wait=on` (QEMU waits for the host before running the
  guest), `-icount shift=0` (one instruction = 1 ns of virtual time, so the tick source counts
  instructions: 40 per tick at the 25 MHz MPS2 clock, 62.5 on the nRF51's 16 MHz TIMER0, ...)
  and semihosting for the exit code.
  The port is a free loopback port; if QEMU cannot bind it (taken in between, or the port the
  user asked for is busy) another one is chosen. Readiness = the TCP connect succeeding.
- native / aarch64: `trix_fw` / `qemu-aarch64 trix_fw` behind a pseudo-terminal
  (host.transport.PtyFirmware), opened by its device path like a board.

The process is stopped when the Link closes: callers use `with launch(...) as link:` so that
happens on every exit path (errors, Ctrl-C); see host/process.py for the rest.
"""
from __future__ import annotations

import os
import shutil
import socket
import time

from .errors import HostError, LinkClosed, SetupError
from .process import Child
from .targets import DEFAULT_TARGETS, KNOWN_TARGETS
from .targets import get as get_target
from .transport import Link, open_pty_firmware, open_url

# Which targets exist, their QEMU machine and runtime kernel: the target table (host/targets.py).
TARGETS = DEFAULT_TARGETS                    # the default set ("all")
OPTIONAL_TARGETS = tuple(t for t in KNOWN_TARGETS if t not in DEFAULT_TARGETS)   # on request only
ICOUNT_SHIFT = 0

DEBIAN_PACKAGES = ("gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm qemu-user "
                   "gcc-aarch64-linux-gnu libc6-dev-arm64-cross")


def build_tools(target: str) -> list:
    """Tools a target needs to build (cmake is checked in host.build)."""
    t = get_target(target)
    if t.bare_metal:
        return ["arm-none-eabi-gcc", "arm-none-eabi-size", "make"]
    return ["aarch64-linux-gnu-gcc", "make"] if t.name == "aarch64" else ["cc", "make"]


def run_tools(target: str) -> list:
    """Tools a target needs to run."""
    t = get_target(target)
    if t.bare_metal:
        return ["qemu-system-arm"]
    return [t.qemu] if t.qemu else []


def check_tools(targets, build: bool = True, run: bool = True) -> None:
    """One SetupError naming every missing tool and the Debian packages to install."""
    missing = []
    for t in targets:
        need = (build_tools(t) if build else []) + (run_tools(t) if run else [])
        missing += [x for x in need if shutil.which(x) is None and x not in missing]
    if missing:
        pkgs = DEBIAN_PACKAGES + (" gcc make" if {"cc", "make"} & set(missing) else "")
        raise SetupError(f"missing {', '.join(missing)}: install the Debian packages "
                         f"{pkgs} (sudo apt-get install --no-install-recommends {pkgs}; "
                         f"scripts/setup.sh does it)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def qemu_system_argv(target: str, elf, port: int) -> list:
    return ["qemu-system-arm", "-M", get_target(target).qemu, "-display", "none", "-monitor", "none",
            "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on",
            "-semihosting-config", "enable=on,target=native",
            "-icount", f"shift={ICOUNT_SHIFT}", "-kernel", str(elf)]


def _bind_failed(child: Child) -> bool:
    tail = child.stderr_tail().lower()
    return "address already in use" in tail or "failed to bind" in tail


def launch_system(target: str, elf, first_port: int | None = None, ready_timeout: float = 10.0,
                  attempts: int = 5, log=None) -> Link:
    """Start qemu-system-arm for a Cortex-M target and connect to its UART0."""
    if shutil.which("qemu-system-arm") is None:
        check_tools([target], build=False)
    port = first_port
    for attempt in range(attempts):
        if port is None or not port_is_free(port):
            if port is not None and log:
                log(f"{target}: port {port} is busy, using another one")
            port = free_port()
        child = Child(qemu_system_argv(target, elf, port))
        try:
            link = _connect(child, port, ready_timeout)
        except _PortTaken:
            child.stop()
            if log:
                log(f"{target}: QEMU could not bind port {port}, using another one")
            port = None
            continue
        except BaseException:
            child.stop()
            raise
        link.port_number = port
        return link
    raise HostError(f"{target}: QEMU could not bind a loopback port in {attempts} attempts")


class _PortTaken(Exception):
    pass


def _connect(child: Child, port: int, timeout: float) -> Link:
    """Wait until QEMU says it listens on the port (so the connection cannot reach someone else
    who happens to listen there), then connect."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        if child.poll() is not None:
            if _bind_failed(child):
                raise _PortTaken()
            raise LinkClosed(f"QEMU did not start: {child.describe_exit()}")
        if "waiting for connection" in child.stderr_tail(4000):
            try:
                return open_url(f"socket://127.0.0.1:{port}", description=f"QEMU ({child.argv[2]}) on port {port}",
                                child=child)
            except LinkClosed as e:
                last = e
        if time.monotonic() >= deadline:
            raise LinkClosed(f"QEMU did not accept a connection on 127.0.0.1:{port} within {timeout:g} s"
                             + (f" ({last})" if last else f": {child.stderr_tail()}"))
        time.sleep(0.01)


def launch(target: str, elf, first_port: int | None = None, log=None) -> Link:
    """A Link to the firmware `elf` of `target` running under emulation (or natively)."""
    t = get_target(target)
    check_tools([target], build=False)
    if not os.path.isfile(elf):
        raise HostError(f"{target}: firmware {elf} does not exist")
    if t.bare_metal:
        return launch_system(target, elf, first_port=first_port, log=log)
    return open_pty_firmware(([t.qemu] if t.qemu else []) + [elf])
