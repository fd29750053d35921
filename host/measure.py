"""What other programs ask of the host (the trainer's frontier): a model in memory built into the
firmware of a target and measured there, without a file and without streaming a test set.

    measure(art, target, kernel=...) -> flash and RAM of trix_fw with the model, instructions (or ns) per cell
                              step by BENCH under emulation, the kernel that ran, the model's hash
"""
from __future__ import annotations

from .build import build, footprint
from .client import Client
from .model import model_of
from .qemu import check_tools, launch
from .verify import instructions

BENCH_STEPS = 200                 # cell steps timed per measurement


def measure(art, target: str, build_root=None, bench_steps: int = BENCH_STEPS, kernel: str = "packed") -> dict:
    """Build trix_fw for ``target`` with the artifact ``art`` (cfcbase.artifact.Artifact, exported
    in this process with ``kernel``, codegen export's; the lossy gate is reported, not applied: a
    measurement of its cost) and time it. HostError / CodegenError: one line."""
    check_tools([target], build=True, run=True)
    model = model_of(art, allow_lossy=True, kernel=kernel)
    fw = build(target, model, build_root)
    fp = footprint(target, fw.elf)
    with launch(target, fw.elf) as link:
        c = Client(link, timeout=60.0)
        c.sync()
        h = c.hello()
        b = c.bench(bench_steps)
    ins = instructions(target, b, emulated=True)
    return {"flash": fp["flash"], "ram": fp["ram"], "per_step": ins["per_step"], "unit": ins["unit"],
            "kernel": h.kernel, "model_hash": h.hash_hex}
