"""`python -m host flash`: build trix_fw for a bare-metal target and program it through pyOCD
(optional extra `flash`). The pyOCD target type comes from the target table (host/targets.py:
stm32f405rg, nrf51, ...) unless --pyocd-target names another. For a chip pyOCD does not know
(a row with flash_tool) the image is built and the command stops in one line naming the tool
that writes it, unless --pyocd-target names a target type."""
from __future__ import annotations

import os

from .build import build
from .errors import HostError, SetupError
from .model import load_model
from .targets import get as get_target


def _pyocd():
    try:                # pyOCD is an optional dependency (trixcfc[flash]): imported when a board is flashed
        from pyocd.core.helpers import ConnectHelper
        from pyocd.flash.file_programmer import FileProgrammer
    except ImportError as e:
        raise SetupError("pyOCD is not installed: `pip install 'trixcfc[flash]'` (or `pip install pyocd`) to "
                         "flash a board; the QEMU verification (`python -m host verify --qemu`) does not "
                         f"need it ({e.name or e})") from e
    return ConnectHelper, FileProgrammer


def flash(a, log) -> int:
    row = get_target(a.target)
    if not row.bare_metal:
        raise HostError(f"flash: {a.target} is not a bare-metal target")
    if a.firmware:
        elf = a.firmware
        if not os.path.isfile(elf):
            raise HostError(f"firmware {elf} not found")
    else:
        model = load_model(a.model)
        a.model = model.path
        elf = str(build(a.target, model, build_root=getattr(a, "build_root", None), log=log).elf)
    log(f"flash: {a.target} image {elf} for the {row.board} (flash at 0x{row.flash_origin:08x}, "
        f"{row.flash_bytes} B; RAM {row.ram_bytes} B)")
    if row.flash_tool and not a.pyocd_target:
        raise HostError(f"flash: pyOCD has no target type for the {row.board}: write {elf} (or its .bin, raw "
                        f"from 0x{row.flash_origin:08x}) with {row.flash_tool}, or give --pyocd-target NAME "
                        f"(a target type from a CMSIS pack: pyocd pack find)")
    ConnectHelper, FileProgrammer = _pyocd()
    pyocd_target = a.pyocd_target or row.pyocd
    options = {"target_override": pyocd_target} if pyocd_target else {}
    log(f"flash: programming {elf} through pyOCD" + (f" (target type {pyocd_target})" if pyocd_target else ""))
    session = ConnectHelper.session_with_chosen_probe(unique_id=a.probe, blocking=False, options=options)
    if session is None:
        raise HostError("no debug probe found: connect the board (CMSIS-DAP / ST-Link / J-Link) or pass --probe UID")
    with session:
        FileProgrammer(session).program(elf, file_format="elf")
        session.board.target.reset()
    print(f"flash: {elf} written and the target reset; check it with "
          f"`python -m host verify --port <device> --model {a.model}`")
    return 0
