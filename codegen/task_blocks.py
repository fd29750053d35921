"""The model header's block of a task that carries its own scaling (docs/fixed_point.md, section 11):
a series' (its inputs' and target's scaling, and its differencing) and a labelled file's (its
input channels' scaling). Chosen in TASK_BLOCKS by the task's name; a built-in task has none."""
from __future__ import annotations

from cfcbase.text import PATH_MAX

from .cliterals import c_comment_text, c_double, c_int, c_join


def series_block(art) -> dict:
    t, where = art.task, f"{art.path}: data_json"
    sc = t.scaling
    dt, dx = t.differenced
    return {"differenced": dt or any(dx), "diff_target": int(dt), "diff_inputs": c_join(c_int(int(v)) for v in dx),
            "horizon": int(t.spec.horizon),
            "source": c_comment_text(str(t.spec.path), f"{where}: path", PATH_MAX),
            "inputs": c_join(c_comment_text(v, f"{where}: inputs[{i}]") for i, v in enumerate(t.spec.inputs)),
            "target": c_comment_text(t.spec.target, f"{where}: target"),
            "input_offset": c_join(c_double(v) for v in sc["input_offset"]),
            "input_scale": c_join(c_double(v) for v in sc["input_scale"]),
            "target_offset": c_double(sc["target_offset"]), "target_scale": c_double(sc["target_scale"])}


def labelled_block(art) -> dict:
    t, where = art.task, f"{art.path}: labelled_json"
    return {"source": c_comment_text(str(t.spec.train), f"{where}: train", PATH_MAX),
            "channels": c_join(c_comment_text(c, f"{where}: channels[{i}]") for i, c in enumerate(t.channels)),
            "input_offset": c_join(c_double(v) for v in t.scaling["input_offset"]),
            "input_scale": c_join(c_double(v) for v in t.scaling["input_scale"])}


TASK_BLOCKS = {"data": ("series_scaling.j2", series_block), "labelled": ("labelled_scaling.j2", labelled_block)}


def task_blocks(art) -> list:
    """[(template, its fields)] of the artifact's task: one block, or none for a built-in task."""
    if art.task.name not in TASK_BLOCKS:
        return []
    template, fields = TASK_BLOCKS[art.task.name]
    return [(template, fields(art))]
