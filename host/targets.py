"""The target table: every fact about a firmware target, in one place.

host.qemu (how to run it), host.build (how to build it, how big it may be), host.cli (the
choices of --target), host.verify / host.bench / host.flash and the tests read this table.
CMake reads the same facts from cmake/toolchain-<target>.cmake and the board's linker script;
`check_cmake(target)` compares them with the row (tests/test_targets.py runs it for every row),
so a row and its CMake files cannot drift apart unnoticed.

Adding a board = one platform file (only for a new peripheral: firmware/platform/cortex-m/
<driver>.c), one linker script (<board>.ld), one toolchain file, one row here and the name in
CMakeLists.txt and CMakePresets.json (docs/porting.md, "Step by step: a new board").
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import BuildError, HostError

REPO = Path(__file__).resolve().parents[1]
CMAKE_DIR = REPO / "cmake"
PLATFORM_DIR = REPO / "firmware" / "platform" / "cortex-m"

KB = 1024
MB = 1024 * 1024


@dataclass(frozen=True)
class Target:
    name: str                  # --target name, TRIX_TARGET, what HELLO reports
    core: str                  # the CPU core ("cortex-m0", ..., "aarch64", "host")
    arch: str                  # its architecture, for the reader
    board: str                 # the chip or board the image is for
    kernel: str                # runtime kernel HELLO must report (trix_arch.h decides it)
    mcpu: str | None = None    # arm-none-eabi-gcc -mcpu (bare-metal targets)
    linker_script: str | None = None    # firmware/platform/cortex-m/<name>; None: a Linux process
    uart_driver: str | None = None      # firmware/platform/cortex-m/<driver>.c
    uart_base: int | None = None
    ticks: str | None = None            # tick source: systick | nrf51_timer (firmware/platform/cortex-m/<ticks>.c)
    cpu_hz: int | None = None           # clock of the UART divisor and the ticks on the chip
    float_abi: str = "soft"
    flash_origin: int | None = None
    flash_bytes: int | None = None      # capacity of the chip / board (the linker script's FLASH)
    ram_origin: int | None = None
    ram_bytes: int | None = None        # (the linker script's RAM)
    qemu: str | None = None             # qemu-system-arm -M machine; "qemu-aarch64"; None: native
    qemu_tick_hz: int | None = None     # rate the QEMU model's tick source counts at, if not cpu_hz
    fault_address: int | None = None    # test_fault reads (then branches to) it: nothing mapped there
    count: str = "wall clock"           # how BENCH time becomes a figure: "instructions" or "wall clock"
    pyocd: str | None = None            # pyOCD target type for `host flash` (None: pyOCD detects it)
    flash_tool: str | None = None       # a chip pyOCD does not know: what writes its image instead
    default: bool = True                # part of --target all
    description: str = ""

    @property
    def bare_metal(self) -> bool:
        return self.linker_script is not None

    @property
    def emulated_tick_hz(self) -> int | None:
        """Ticks per second of virtual time under QEMU (-icount shift=0: 1 instruction = 1 ns)."""
        return self.qemu_tick_hz or self.cpu_hz

    def toolchain_file(self) -> Path | None:
        return None if self.name == "native" else CMAKE_DIR / f"toolchain-{self.name}.cmake"


_ARM_BOARD = dict(uart_driver="cmsdk_uart", ticks="systick", count="instructions", fault_address=0xF0000000)
# ARM's MPS2 boards (AN385, AN386, AN500): 4 MB SSRAM as "flash" at 0, 4 MB at 0x20000000,
# CMSDK UART0 at 0x40004000, 25 MHz.
_MPS2 = dict(uart_base=0x40004000, cpu_hz=25_000_000, flash_origin=0x0, flash_bytes=4 * MB,
             ram_origin=0x20000000, ram_bytes=4 * MB, **_ARM_BOARD)

TABLE = (
    Target("native", "host", "the development machine", "Linux process (stdin/stdout)", "ref",
           description="the runtime built for the development machine (fast tests)"),
    Target("aarch64", "aarch64", "ARMv8-A", "static Linux binary under qemu-aarch64", "neon",
           qemu="qemu-aarch64", description="NEON kernel, Linux user-mode emulation"),
    Target("cortex-m4", "cortex-m4", "ARMv7E-M (DSP)", "ARM MPS2 AN386 FPGA board", "dsp/lut",
           mcpu="cortex-m4", linker_script="mps2-an386.ld", qemu="mps2-an386", **_MPS2,
           description="SMLAD / table-lookup kernels"),
    Target("cortex-m3", "cortex-m3", "ARMv7-M", "ARM MPS2 AN385 FPGA board", "lut",
           mcpu="cortex-m3", linker_script="mps2-an385.ld", qemu="mps2-an385", **_MPS2,
           description="no DSP, no FPU: Thumb-2 table lookup"),
    Target("stm32f405", "cortex-m4", "ARMv7E-M (DSP)", "STM32F405RG (STM32F4: 1 MB flash, 128 KB SRAM)",
           "dsp/lut", mcpu="cortex-m4", linker_script="stm32f405.ld", uart_driver="stm32f4_usart",
           uart_base=0x40011000, ticks="systick", cpu_hz=16_000_000,
           flash_origin=0x08000000, flash_bytes=1 * MB, ram_origin=0x20000000, ram_bytes=128 * KB,
           qemu="netduinoplus2", qemu_tick_hz=168_000_000, count="instructions", pyocd="stm32f405rg",
           fault_address=0xF0000000,
           description="USART1 on PA9/PA10 at 115200 from the 16 MHz HSI reset clock; QEMU's model "
                       "clocks SysTick at its fixed 168 MHz SYSCLK"),
    Target("nrf51", "cortex-m0", "ARMv6-M", "nRF51822-QFAA (micro:bit v1: 256 KB flash, 16 KB RAM)", "lut",
           mcpu="cortex-m0", linker_script="nrf51.ld", uart_driver="nrf51_uart", uart_base=0x40002000,
           ticks="nrf51_timer", cpu_hz=16_000_000,
           flash_origin=0x0, flash_bytes=256 * KB, ram_origin=0x20000000, ram_bytes=16 * KB,
           qemu="microbit", count="instructions", pyocd="nrf51",
           fault_address=0x70000000,     # QEMU's microbit answers reads at 0xF0000000-0xFFFFFFFF
           description="UART on P0.24/P0.25; no SysTick: TIMER0 at 16 MHz counts time"),
    Target("cortex-m7", "cortex-m7", "ARMv7E-M (DSP)", "ARM MPS2 AN500 FPGA board", "dsp/lut",
           mcpu="cortex-m7", linker_script="mps2-an500.ld", qemu="mps2-an500", **_MPS2,
           description="the core of STM32F7/H7"),
    Target("cortex-m33", "cortex-m33", "ARMv8-M Mainline (DSP)", "ARM MPS2 AN505 FPGA board (Secure state)",
           "dsp/lut", mcpu="cortex-m33", linker_script="mps2-an505.ld", uart_base=0x50200000,
           cpu_hz=20_000_000, flash_origin=0x10000000, flash_bytes=4 * MB, ram_origin=0x38000000,
           ram_bytes=2 * MB, qemu="mps2-an505", **_ARM_BOARD,
           description="the core of nRF5340 / STM32U5 / RP2350-class parts"),
    Target("cortex-m55", "cortex-m55", "ARMv8.1-M (DSP, Helium)", "ARM MPS3 AN547 FPGA board", "dsp/lut",
           mcpu="cortex-m55", linker_script="mps3-an547.ld", uart_base=0x49303000, cpu_hz=32_000_000,
           float_abi="softfp", flash_origin=0x0, flash_bytes=512 * KB, ram_origin=0x20000000,
           ram_bytes=512 * KB, qemu="mps3-an547", default=False, **_ARM_BOARD,
           description="optional: the Helium kernel is built and tested"),
    Target("lm3s6965", "cortex-m3", "ARMv7-M", "TI Stellaris LM3S6965 (256 KB flash, 64 KB SRAM)", "lut",
           mcpu="cortex-m3", linker_script="lm3s6965.ld", uart_driver="pl011_uart", uart_base=0x4000C000,
           ticks="systick", cpu_hz=12_000_000,
           flash_origin=0x0, flash_bytes=256 * KB, ram_origin=0x20000000, ram_bytes=64 * KB,
           qemu="lm3s6965evb", qemu_tick_hz=12_500_000, count="instructions", fault_address=0xF0000000,
           flash_tool="OpenOCD (openocd -f board/ek-lm3s6965.cfg) or TI's LM Flash Programmer",
           description="UART0 (PL011) on PA0/PA1 from the 12 MHz internal oscillator the chip starts on; "
                       "QEMU's model clocks SysTick at 12.5 MHz and answers every read (the fault test "
                       "faults on the fetch); pyOCD has no target type for it"),
)

TARGETS = {t.name: t for t in TABLE}
DEFAULT_TARGETS = tuple(t.name for t in TABLE if t.default)      # --target all
KNOWN_TARGETS = tuple(TARGETS)
BARE_METAL = tuple(t.name for t in TABLE if t.bare_metal)
COUNTED = tuple(t.name for t in TABLE if t.count == "instructions")   # where BENCH counts instructions


def get(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise HostError(f"unknown target {name!r}: expected one of {', '.join(KNOWN_TARGETS)}") from None


# ---- the CMake side of a row ------------------------------------------------------------------

def _size(text: str) -> int:
    m = re.fullmatch(r"\s*(0x[0-9a-fA-F]+|\d+)\s*([KM]?)\s*", text)
    if not m:
        raise ValueError(f"cannot read the size {text!r}")
    return int(m[1], 0) * {"": 1, "K": KB, "M": MB}[m[2]]


def linker_memory(path: Path) -> dict:
    """{'FLASH': (origin, length), 'RAM': (origin, length)} from a linker script's MEMORY block."""
    out = {}
    for m in re.finditer(r"^\s*(\w+)\s*\([rwx]+\)\s*:\s*ORIGIN\s*=\s*([^,]+),\s*LENGTH\s*=\s*(\S+)",
                         path.read_text(), re.M):
        out[m[1]] = (_size(m[2]), _size(m[3]))
    return out


# what cmake/toolchain-arm-none-eabi.cmake sets when a per-target file does not
TOOLCHAIN_DEFAULTS = {"TRIX_FLOAT_ABI": "soft", "TRIX_FAULT_ADDRESS": "0xF0000000"}


def toolchain_facts(path: Path) -> dict:
    """The set(TRIX_... value) lines of a per-target toolchain file."""
    return {m[1]: m[2] for m in re.finditer(r"^set\((TRIX_\w+)\s+([^)\s]+)\)", path.read_text(), re.M)}


def check_cmake(t: Target) -> list:
    """Differences between a row and its CMake files, each naming the file and both figures."""
    problems = []
    tc = t.toolchain_file()
    if tc is None:
        return problems
    if not tc.is_file():
        return [f"{t.name}: {tc.relative_to(REPO)} is missing"]
    f = toolchain_facts(tc)
    if not t.bare_metal:
        return problems
    want = {"TRIX_TARGET_NAME": t.name, "TRIX_CPU": t.mcpu, "TRIX_BOARD": t.linker_script.removesuffix(".ld"),
            "TRIX_QEMU_MACHINE": t.qemu, "TRIX_UART_DRIVER": t.uart_driver, "TRIX_UART_BASE": t.uart_base,
            "TRIX_TICKS": t.ticks, "TRIX_CPU_HZ": t.cpu_hz, "TRIX_FLOAT_ABI": t.float_abi,
            "TRIX_FAULT_ADDRESS": t.fault_address}
    for key, value in want.items():
        got = f.get(key, TOOLCHAIN_DEFAULTS.get(key))
        same = (got is not None and int(got, 0) == value) if isinstance(value, int) else got == value
        if not same:
            shown = f"0x{value:08x}" if key in ("TRIX_UART_BASE", "TRIX_FAULT_ADDRESS") else value
            problems.append(f"{t.name}: {tc.relative_to(REPO)} sets {key} {got}, the target table {shown}")
    for src in (t.uart_driver, t.ticks):
        if not (PLATFORM_DIR / f"{src}.c").is_file():
            problems.append(f"{t.name}: no platform source {src}.c in {PLATFORM_DIR.relative_to(REPO)}")
    ld = PLATFORM_DIR / t.linker_script
    if not ld.is_file():
        return problems + [f"{t.name}: linker script {ld.relative_to(REPO)} is missing"]
    mem = linker_memory(ld)
    for region, (origin, length) in (("FLASH", (t.flash_origin, t.flash_bytes)), ("RAM", (t.ram_origin, t.ram_bytes))):
        if region not in mem:
            problems.append(f"{t.name}: {ld.relative_to(REPO)} has no {region} region")
        elif mem[region] != (origin, length):
            o, n = mem[region]
            problems.append(f"{t.name}: {ld.relative_to(REPO)} {region} at 0x{o:08x}, {n} B; the target table "
                            f"0x{origin:08x}, {length} B")
    return problems


def check_project() -> list:
    """The target list of CMakeLists.txt and the configure presets against the table."""
    problems = []
    m = re.search(r"set\(TRIX_KNOWN_TARGETS ([^)]*)\)", (REPO / "CMakeLists.txt").read_text())
    listed = m[1].split() if m else []
    if sorted(listed) != sorted(KNOWN_TARGETS):
        problems.append(f"CMakeLists.txt TRIX_KNOWN_TARGETS {' '.join(listed)}; the target table "
                        f"{' '.join(KNOWN_TARGETS)}")
    presets = json.loads((REPO / "CMakePresets.json").read_text())
    by_target = {}
    for p in presets["configurePresets"]:
        tt = p.get("cacheVariables", {}).get("TRIX_TARGET")
        if tt:
            by_target.setdefault(tt, []).append(p["name"])
    for name in KNOWN_TARGETS:
        if name not in by_target.get(name, []):
            problems.append(f"CMakePresets.json has no configure preset {name!r} with TRIX_TARGET={name}")
    for tt, names in by_target.items():
        if tt not in TARGETS:
            problems.append(f"CMakePresets.json presets {', '.join(names)} use TRIX_TARGET={tt}, not in the table")
    for kind in ("buildPresets", "testPresets"):
        have = {p["name"] for p in presets.get(kind, [])}
        missing = [n for n in KNOWN_TARGETS if n not in have]
        if missing:
            problems.append(f"CMakePresets.json {kind} lack {', '.join(missing)}")
    return problems


def check_fits(t: Target, flash: int | None, ram: int | None, what: str = "trix_fw") -> None:
    """BuildError with the figures when an image needs more flash or RAM than the chip has."""
    over = []
    if t.flash_bytes is not None and flash is not None and flash > t.flash_bytes:
        over.append(f"flash {flash} B > {t.flash_bytes} B")
    if t.ram_bytes is not None and ram is not None and ram > t.ram_bytes:
        over.append(f"RAM {ram} B > {t.ram_bytes} B")
    if over:
        raise BuildError(f"{t.name}: {what} does not fit the {t.board}: {', '.join(over)} (target table, "
                         f"host/targets.py); use a smaller model or a chip with more memory")
