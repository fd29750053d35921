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


def image(tmp_path, target, mode, *defines, source=SOURCE, sources=()):
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.fail("arm-none-eabi-gcc / qemu-system-arm missing: run scripts/setup.sh")
    t = TARGETS[target]
    src = tmp_path / "probe.c"
    src.write_text(source)
    out = tmp_path / f"{target}-{mode}.elf"
    r = subprocess.run(["arm-none-eabi-gcc", f"-mcpu={t.mcpu}", "-mthumb", "-O1", "-ffreestanding", "-nostdlib",
                        f"-I{PLATFORM}", f"-DTRIX_UART_BASE=0x{t.uart_base:x}u", f"-DTRIX_CPU_HZ={t.cpu_hz}u",
                        f'-DMODE="{mode}"', *defines, src, PLATFORM / f"{t.uart_driver}.c", *sources,
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


# ---- the tick rate: what the target table says QEMU's tick source counts at ----------------------

TICKS_SOURCE = r"""
#include <stdint.h>
#include "cortex_m.h"
extern uint32_t _estack;
void Reset_Handler(void);
void SysTick_Handler(void) __attribute__((weak));       /* systick.c's; none with the nRF51 timer */
__attribute__((section(".isr_vector"), used)) const void *const vectors[16] = {
    &_estack, (const void *)Reset_Handler, [15] = (const void *)SysTick_Handler};
static void put(const char *s) { while (*s) trix_uart_putc((uint8_t)*s++); }
static void put_u32(uint32_t v)
{
    char b[11];
    int i = 10;
    b[i] = 0;
    do { b[--i] = (char)('0' + v % 10u); v /= 10u; } while (v);
    put(b + i);
}
static void known_loop(uint32_t n)          /* 2 instructions per iteration */
{
#if defined(__ARM_ARCH_6M__)
    __asm__ volatile("1: sub %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
#else
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
#endif
}
void Reset_Handler(void)
{
    trix_uart_init();
    trix_ticks_start();
    known_loop(1000);       /* SysTick loads its reload value on its first tick: CVR reads 0 until then */
    const uint64_t t0 = trix_ticks64();
    known_loop(LOOPS);
    const uint64_t t1 = trix_ticks64();
    put("ticks ");
    put_u32((uint32_t)(t1 - t0));
    put("\r\n*** trixcfc: exit 0\r\n");
    *(volatile uint32_t *)0xE000ED0Cu = (0x05FAu << 16) | (1u << 2);   /* SYSRESETREQ */
    for (;;) {
    }
}
"""
LOOPS = 1_000_000


@pytest.mark.qemu
@pytest.mark.parametrize("target", BARE_METAL)
def test_the_tick_rate_under_qemu_is_the_rows(target, tmp_path):
    """Under -icount shift=0 one instruction is 1 ns of virtual time: a known loop of 2,000,000
    instructions takes 2 ms, so the board's tick source (firmware/platform/cortex-m/<ticks>.c)
    counts 2 ms x the rate the row states for QEMU (emulated_tick_hz: qemu_tick_hz where QEMU's
    model does not clock it as the chip does, else cpu_hz). verify and bench convert BENCH ticks
    to instructions with that rate."""
    t = TARGETS[target]
    elf = image(tmp_path, target, "ticks", f"-DLOOPS={LOOPS}u", source=TICKS_SOURCE,
                sources=[PLATFORM / f"{t.ticks}.c"])
    r, _ = qemu_run("--target", target, "--icount", elf)
    assert r.returncode == 0, r.stdout + r.stderr
    ticks = int(r.stdout.split("ticks ", 1)[1].split()[0])
    want = 2 * LOOPS * t.emulated_tick_hz / 1e9
    assert ticks == pytest.approx(want, rel=1e-3), (f"{target}: {ticks} ticks for {2 * LOOPS} instructions: "
                                                    f"{ticks / (2 * LOOPS) * 1e9:,.0f} Hz, the row says "
                                                    f"{t.emulated_tick_hz:,} Hz")

