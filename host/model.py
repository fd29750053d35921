"""The model once: a `best.npz` loaded, validated and exported by codegen in this process, one
time per run. `verify`, `bench` and `flash` take the Model; `host.build.build` writes its
headers into each target's build tree (only when their bytes change) and names the tree by
its hash.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import HostError

from cfcbase.artifact import committed_model

DEFAULT_MODEL = committed_model("sine")        # every host command's default model


def resolve_model(model_path) -> str:
    """The npz path; a relative one missing from the working directory is also looked up in
    the checkout (the default results/sine/best.npz when run from elsewhere)."""
    from .build import REPO
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
    data_path: str | None = None   # a data model's file given instead of the artifact's (--data)

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


def load_model(model_path=DEFAULT_MODEL, data_path=None, log=None, allow_lossy=False) -> Model:
    """Resolve, load and export `model_path` (ArtifactError / CodegenError: one line naming the
    file and key; the lossy gate as `codegen export` applies it, unless allow_lossy)."""
    from cfcbase.artifact import load_artifact
    from codegen.export import export_model
    path = resolve_model(model_path)
    art = load_artifact(path)
    if data_path is not None and art.data is None and art.labelled is None:
        raise HostError(f"--data: {model_path} was trained on the {art.task} task, not on a data file")
    ex = export_model(art, data_path=data_path, allow_lossy=allow_lossy)
    if log:
        log(f"model {path}: {ex.hash_hex} (I={ex.model.I} H={ex.model.H}); {ex.lossy_text()}")
    return Model(path, ex, data_path)
