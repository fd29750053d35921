"""host/qemu_run.py, the runner of bare-metal programs (the ctest emulator): the exit marker
becomes its exit status and QEMU ends by itself on every board of the target table (the
program's reset request under -no-reboot); a program that never ends is stopped by the timeout
with a message saying so; one that resets without the marker is a failure, not a pass.

The images are built here from a few lines of C and the board's UART driver, without the
platform's startup code, so that each behaviour is exactly the one asked for."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from host.qemu import AFTER_EXIT_S, STATUS_NO_EXIT, STATUS_TIMEOUT
from host.targets import BARE_METAL, TARGETS

REPO = Path(__file__).resolve().parents[1]
PLATFORM = REPO / "firmware" / "platform" / "cortex-m"

SOURCE = r"""
#include <stdint.h>
#include "cortex_m.h"
extern uint32_t _estack;
void Reset_Handler(void);
__attribute__((section(".isr_vector"), used)) const void *const vectors[2] = {&_estack, (const void *)Reset_Handler};
static void put(const char *s) { while (*s) trix_uart_putc((uint8_t)*s++); }
void Reset_Handler(void)
{
    trix_uart_init();
    put("qemu_run probe: " MODE "\r\n");
#ifdef MARKER
    put("\r\n*** trixcfc: exit " MARKER "\r\n");
#endif
#ifdef RESET
    *(volatile uint32_t *)0xE000ED0Cu = (0x05FAu << 16) | (1u << 2);   /* SYSRESETREQ */
#endif
    for (;;) {
    }
}
"""


def image(tmp_path, target, mode, *defines):
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.fail("arm-none-eabi-gcc / qemu-system-arm missing: run scripts/setup.sh")
    t = TARGETS[target]
    src = tmp_path / "probe.c"
    src.write_text(SOURCE)
    out = tmp_path / f"{target}-{mode}.elf"
    r = subprocess.run(["arm-none-eabi-gcc", f"-mcpu={t.mcpu}", "-mthumb", "-O1", "-ffreestanding", "-nostdlib",
                        f"-I{PLATFORM}", f"-DTRIX_UART_BASE=0x{t.uart_base:x}u", f"-DTRIX_CPU_HZ={t.cpu_hz}u",
                        f'-DMODE="{mode}"', *defines, src, PLATFORM / f"{t.uart_driver}.c",
                        f"-L{PLATFORM}", "-T", PLATFORM / t.linker_script, "-lgcc", "-o", out],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def qemu_run(*args, timeout=300):
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "host.qemu_run", *map(str, args)], cwd=REPO, capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return r, time.monotonic() - t0


@pytest.mark.qemu
@pytest.mark.parametrize("target", BARE_METAL)
def test_exit_marker_is_the_status_and_qemu_ends_by_itself(target, tmp_path):
    """The measured fact the runner relies on: SYSRESETREQ under -no-reboot ends QEMU on this
    board (else the runner would stop it after AFTER_EXIT_S and say so on stderr)."""
    r, _ = qemu_run("--target", target, image(tmp_path, target, "exit", '-DMARKER="7"', "-DRESET"))
    assert r.returncode == 7, r.stdout + r.stderr
    assert "qemu_run probe: exit" in r.stdout and "*** trixcfc: exit 7" in r.stdout, r.stdout
    assert r.stderr == "", r.stderr        # the runner did not have to stop QEMU (it says so on stderr)


@pytest.mark.qemu
def test_a_hung_program_is_stopped_by_the_timeout(tmp_path):
    r, took = qemu_run("--target", "cortex-m4", "--timeout", "3", image(tmp_path, "cortex-m4", "hang"))
    assert r.returncode == STATUS_TIMEOUT, r.stdout + r.stderr
    assert "qemu_run probe: hang" in r.stdout, r.stdout
    assert "qemu_run: timeout: " in r.stderr and "did not exit within 3 s" in r.stderr, r.stderr
    assert took >= 3, took


@pytest.mark.qemu
def test_a_reset_without_the_marker_is_not_a_pass(tmp_path):
    r, _ = qemu_run("--target", "nrf51", "--timeout", "120", image(tmp_path, "nrf51", "reset", "-DRESET"))
    assert r.returncode == STATUS_NO_EXIT, r.stdout + r.stderr
    assert "ended without the program's exit marker" in r.stderr, r.stderr
    assert "qemu_run probe: reset" in r.stdout, r.stdout


def test_runner_refuses_a_missing_image_and_a_host_target(tmp_path):
    r, _ = qemu_run("--target", "cortex-m4", tmp_path / "none.elf")
    assert r.returncode == 127 and "qemu_run: error: cortex-m4: " in r.stderr and "does not exist" in r.stderr, r.stderr
    r, _ = qemu_run("--target", "native", tmp_path / "none.elf")
    assert r.returncode == 2 and "invalid choice" in r.stderr, r.stderr
