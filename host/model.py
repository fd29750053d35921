"""The model once: a `best.npz` (or an artifact in memory) validated and exported by codegen in
this process, one time per run. `verify`, `bench` and `flash` take the Model; `host.build.build`
writes its headers into each target's build tree (only when their bytes change) and names the
tree by its hash.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from cfcbase.artifact import committed_model, load_artifact
from codegen.export import export_model

from .errors import HostError
from .targets import REPO

DEFAULT_MODEL = committed_model("sine")        # every host command's default model


def resolve_model(model_path) -> str:
    """The npz path; a relative one missing from the working directory is also looked up in
    the checkout (the default results/sine/best.npz when run from elsewhere)."""
    p = str(model_path)
    if not os.path.isfile(p) and not os.path.isabs(p) and (REPO / p).is_file():
        p = str(REPO / p)
    if not os.path.isfile(p):
        raise HostError(f"model {model_path} not found (train one with `python -m trainer factorial`, "
                        f"or pass --model PATH)")
    return p


@dataclass
class Model:
    """The artifact, its integer model (the golden model's parameters), the rendered headers
    and the lossy gate's figures: codegen.export.Exported, plus where it came from."""
    path: str
    exported: object               # codegen.export.Exported
    kernel: str = "packed"         # codegen.export.KERNELS: the export's --kernel

    @property
    def art(self):
        return self.exported.art

    @property
    def int_model(self):
        return self.exported.model

    @property
    def headers(self) -> dict:
        return self.exported.files

    @property
    def hash_hex(self) -> str:
        return self.exported.hash_hex

    @property
    def tree_name(self) -> str:
        """What names its build trees besides the target: the hash, and a kernel other than packed
        (the same model with another kernel is another image)."""
        return self.hash_hex if self.kernel == "packed" else f"{self.hash_hex}-{self.kernel}"


def model_of(art, log=None, allow_lossy=False, kernel="packed") -> Model:
    """The Model of an artifact in memory (CodegenError: one line naming the key; the lossy gate as
    `codegen export` applies it, unless allow_lossy), exported with ``kernel``."""
    ex = export_model(art, allow_lossy=allow_lossy, kernel=kernel)
    if log:
        log(f"model {art.path}: {ex.hash_hex} (I={ex.model.I} H={ex.model.H}); {ex.lossy_text()}")
    return Model(art.path, ex, kernel)


def load_model(model_path=DEFAULT_MODEL, data_path=None, log=None, allow_lossy=False, kernel="packed") -> Model:
    """Resolve and load `model_path` (ArtifactError: one line naming the file and key), with its
    task reading ``data_path`` instead of its own data file, then model_of."""
    art = load_artifact(resolve_model(model_path))
    if data_path is not None:
        try:
            art.task = art.task.with_data(data_path)
        except ValueError as e:
            raise HostError(f"--data: {model_path}: {e}") from None
    return model_of(art, log, allow_lossy, kernel)
