"""Running the firmware under emulation, one `Link` per target, and running a test image to its end.

qemu_system_argv() is the one qemu-system-arm command line of the project (verify, bench, the
ctest runner host/qemu_run.py, the tests). It never enables semihosting, so a guest cannot ask
the host to run a command or touch a file: exit codes and fault reports travel on the board's
UART as text (`*** trixcfc: exit <code>`, host.protocol.EXIT_MARKER).

- bare-metal targets (cortex-m4, cortex-m3, stm32f405, nrf51, cortex-m7, cortex-m33, cortex-m55):
  `qemu-system-arm -M <machine of the target table>` with the board's UART on
  `-serial tcp:127.0.0.1:PORT,server=on,wait=on` (QEMU waits for the host before running the
  guest) and `-icount shift=0` (one instruction = 1 ns of virtual time, so the tick source counts
  instructions: 40 per tick at the 25 MHz MPS2 clock, 62.5 on the nRF51's 16 MHz TIMER0, ...).
  Reboots stay enabled there: a reset (the monitor's system_reset, a fault handler's) restarts
  the firmware as on a chip, and the frame reader stops the session at the exit marker.
  The port is a free loopback port; if QEMU cannot bind it (taken in between, or the port the
  user asked for is busy) another one is chosen. Readiness = the TCP connect succeeding.
- native / aarch64: `trix_fw` / `qemu-aarch64 trix_fw` behind a pseudo-terminal
  (host.transport.PtyFirmware), opened by its device path like a board.

The process is stopped when the Link closes: callers use `with launch(...) as link:` so that
happens on every exit path (errors, Ctrl-C); see host/process.py for the rest.
"""
from __future__ import annotations

import os
import re
import select
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

from .errors import HostError, LinkClosed, SetupError
from .process import Child
from .protocol import find_exit
from .targets import get as get_target
from .transport import Link, open_pty_firmware, open_url

# Which targets exist, their QEMU machine and runtime kernel: the target table (host/targets.py).
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


def qemu_system_argv(target: str, elf, serial: str = "stdio", monitor: str | None = None,
                     icount: bool = True, no_reboot: bool = False) -> list:
    """qemu-system-arm for the bare-metal `target` running `elf`, its UART on the chardev
    `serial` ("stdio", "tcp:..."), the human monitor on the unix socket `monitor` or none, with
    `-icount shift=0` (instruction counts) and, for a program that ends, `-no-reboot` (its
    exit's reset request then ends QEMU). No semihosting, ever: with it a guest could run host
    commands (SYS_SYSTEM) and open host files; tests/test_guest_host_access.py checks."""
    mon = f"unix:{monitor},server=on,wait=off" if monitor else "none"
    return (["qemu-system-arm", "-M", get_target(target).qemu, "-display", "none", "-monitor", mon,
             "-serial", serial]
            + (["-no-reboot"] if no_reboot else [])
            + (["-icount", f"shift={ICOUNT_SHIFT}"] if icount else [])
            + ["-kernel", str(elf)])


# host/qemu_run.py's exit statuses of its own (a guest's code is 0..255 from its exit marker;
# the platform's fault handlers use 125 and 126).
STATUS_NO_EXIT = 123           # QEMU ended without the exit marker (a reset or crash, QEMU's error)
STATUS_TIMEOUT = 124           # the run timed out (as coreutils' timeout)
RUN_TIMEOUT_S = 600.0          # generous: the slowest ctest program takes ~20 s on 2 shared cores
AFTER_EXIT_S = 10.0            # QEMU's own time to end after the marker before it is stopped


@dataclass
class ImageRun:
    status: int                # what host/qemu_run.py exits with
    output: bytes              # everything the guest wrote to its UART
    code: int | None           # the code of the exit marker, None without one
    message: str = ""          # why the status is not the guest's code, or what else happened


def run_image(target: str, elf, timeout: float = RUN_TIMEOUT_S, icount: bool = False, echo=None,
              after_exit: float = AFTER_EXIT_S) -> ImageRun:
    """Run a bare-metal program to its end: qemu-system-arm with its UART on stdout, no
    semihosting, `-no-reboot`. The guest's output is copied to `echo` (a binary stream) as it
    comes; its exit marker gives the status. Without the marker, STATUS_NO_EXIT; after `timeout`
    seconds QEMU is stopped and the status is STATUS_TIMEOUT."""
    if not get_target(target).bare_metal:
        raise HostError(f"{target} is not a bare-metal target (qemu-system-arm runs those only)")
    if shutil.which("qemu-system-arm") is None:
        check_tools([target], build=False)
    if not os.path.isfile(elf):
        raise HostError(f"{target}: {elf} does not exist")
    child = Child(qemu_system_argv(target, elf, "stdio", icount=icount, no_reboot=True), stdout=subprocess.PIPE)
    fd = child.proc.stdout.fileno()
    out = bytearray()
    code = None
    message = ""
    deadline = time.monotonic() + timeout
    end_by = None                                 # after the marker: QEMU's time to end
    try:
        while True:
            limit = deadline if end_by is None else min(deadline, end_by)
            left = limit - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not ready:
                continue
            data = os.read(fd, 65536)
            if not data:                          # QEMU ended
                break
            if echo is not None:
                echo.write(data)
                echo.flush()
            out += data
            if code is None:
                ex = find_exit(out, max(0, len(out) - len(data) - 40))
                if ex is not None:
                    code = ex[0]
                    end_by = time.monotonic() + after_exit
        if child.poll() is None:
            try:
                child.proc.wait(max(0.0, min(deadline if end_by is None else end_by, deadline) - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        running = child.poll() is None
        machine = get_target(target).qemu
        if code is not None:
            status = code & 0xFF
            if running:
                message = f"QEMU ({machine}) did not end within {after_exit:g} s of the exit marker; stopped it"
        elif running:
            status = STATUS_TIMEOUT
            message = (f"timeout: {elf} did not exit within {timeout:g} s under QEMU ({machine}) "
                       f"(no '*** trixcfc: exit' line); QEMU stopped")
        else:
            status = STATUS_NO_EXIT
            message = (f"QEMU ({machine}) ended without the program's exit marker ('*** trixcfc: exit <code>'): "
                       f"{child.describe_exit()}")
    finally:
        child.stop()
        child.proc.stdout.close()
    return ImageRun(status, bytes(out), code, message)


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
        mondir = tempfile.mkdtemp(prefix="trix-qemu-")
        child = Child(qemu_system_argv(target, elf, f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on",
                                       monitor=os.path.join(mondir, "monitor")))
        try:
            link = _connect(child, port, ready_timeout)
        except _PortTaken:
            child.stop()
            shutil.rmtree(mondir, ignore_errors=True)
            if log:
                log(f"{target}: QEMU could not bind port {port}, using another one")
            port = None
            continue
        except BaseException:
            child.stop()
            shutil.rmtree(mondir, ignore_errors=True)
            raise
        link.port_number = port
        link.monitor = Monitor(os.path.join(mondir, "monitor"))
        link_close = link.close

        def close():
            try:
                link_close()
            finally:
                shutil.rmtree(mondir, ignore_errors=True)
        link.close = close
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


class Monitor:
    """QEMU's human monitor on a unix socket the host opened (`-monitor unix:...`): one command,
    its output as text. Used to reset the guest (`system_reset`) and to read guest memory
    (`xp`) for the stack's high-water mark."""

    PROMPT = b"(qemu) "

    def __init__(self, path: str):
        self.path = path

    def command(self, cmd: str, timeout: float = 10.0) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            try:
                s.connect(self.path)
                self._until_prompt(s)
                s.sendall(cmd.encode() + b"\n")
                out = self._until_prompt(s)
            except OSError as e:
                raise HostError(f"QEMU monitor {self.path}: {cmd!r} failed: {e}") from e
        text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", out.decode("ascii", "replace")).replace("\r", "")
        lines = text.split("\n")
        return "\n".join(lines[1:]).strip()           # the first line echoes the command

    def _until_prompt(self, s) -> bytes:
        buf = b""
        while not buf.endswith(self.PROMPT):
            data = s.recv(65536)
            if not data:
                raise OSError("the monitor closed")
            buf += data
        return buf[: -len(self.PROMPT)]

    def read_words(self, addr: int, count: int) -> list:
        """`count` 32-bit words of guest physical memory from `addr`."""
        words = []
        for line in self.command(f"xp /{count}wx 0x{addr:x}").splitlines():
            if ":" in line:
                words += [int(w, 16) for w in line.split(":", 1)[1].split()]
        if len(words) != count:
            raise HostError(f"QEMU monitor: xp returned {len(words)} words, asked {count}")
        return words


STACK_PAINT = 0xC5C5C5C5          # firmware/platform/cortex-m/startup.c


def elf_symbols(elf, names) -> dict:
    """Addresses of `names` in a Cortex-M ELF (arm-none-eabi-nm)."""
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] in names:
            found[parts[2]] = int(parts[0], 16)
    missing = [n for n in names if n not in found]
    if missing:
        raise HostError(f"{elf}: no symbol {', '.join(missing)}")
    return found


def stack_high_water(monitor: Monitor, elf) -> tuple:
    """(bytes of the reserved stack ever used, its size): the painted words from the bottom
    (_sstack) up that are still the paint are unused."""
    sym = elf_symbols(elf, ("_sstack", "_estack"))
    lo, hi = sym["_sstack"], sym["_estack"]
    words = monitor.read_words(lo, (hi - lo) // 4)
    unused = next((i for i, w in enumerate(words) if w != STACK_PAINT), len(words))
    return hi - lo - 4 * unused, hi - lo
