"""What a verify run streams and checks against: a model's test windows (a built-in task's
regenerated split, a series' test block or a labelled TEST file, read through the model's task),
quantized to Q14, the golden integer model's answers to them, the fixed-point saturation counts,
and what the model's head compares the device's answers with (host.heads: `expected`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cfcbase.series import Q14_LIMIT
from cfcbase.table import SeriesError
from codegen.golden import quantize_input, run_golden
from codegen.lossy import saturation_counts

from .errors import HostError
from .heads import HOST_HEADS
from .model import Model, load_model


@dataclass
class Reference:
    """The test data of a run and the golden model's answers to it (host.verify streams it)."""
    art: object                       # cfcbase.artifact.Artifact
    model: object                     # codegen.golden.IntModel
    x: np.ndarray                     # float [N, T, I]
    x_q14: np.ndarray                 # int16 [N, T, I]
    golden_q14: np.ndarray            # int16 [N, T]: the per-step outputs (a classifier's: 0)
    golden_states: np.ndarray         # int16 [N, T, H]
    data_source: str
    saturation: dict = field(default_factory=dict)
    head: object = None               # host.heads: ReadoutVerify or ClassifierVerify
    expected: dict = field(default_factory=dict)   # what the head compares with (host.heads)
    lengths: np.ndarray | None = None  # each window's steps (None: all T): a classifier's windows of their own lengths
    stream_expected: dict | None = None  # verify --stream: the windows as one stream and its decisions (host.heads)


def load_reference(model, sequences=None, log=None, data=None) -> Reference:
    """The windows a run streams and what they must give back: ``model`` a host.model.Model (or
    an npz path, loaded here with ``data`` as its data file), its task's test split cut or cycled
    to ``sequences``."""
    if not isinstance(model, Model):
        model = load_model(model, data_path=data, log=log)
    art, m = model.art, model.int_model
    try:
        x, y = art.task.split("test")
        source = art.task.source("test")
    except SeriesError as e:
        raise HostError(f"the model's data: {e}") from None
    note = getattr(art.task, "note", None)
    if note and log:
        log(f"verify: note: {note}")
    x = np.asarray(x, np.float64)
    if x.ndim != 3 or x.shape[2] != art.I:
        raise HostError(f"the {art.task.label()} test set has shape {x.shape}, the model I={art.I}")
    n = art.task.lengths("test")
    pick = np.arange(x.shape[0])
    if sequences is not None:
        if sequences < 1:
            raise HostError("--sequences must be >= 1")
        if sequences > x.shape[0]:      # a soak: the test set again and again
            source += f", cycled to {sequences} sequences"
        pick = np.arange(sequences) % x.shape[0]
        x, y = x[pick], y[pick]
    xq = quantize_input(x)
    ys, hs = run_golden(m, xq, return_states=True)
    ref = Reference(art, m, x, xq, ys, hs, source, saturation=saturations(m, xq, x), head=HOST_HEADS[art.head.kind],
                    lengths=None if n is None else n[pick])
    ref.expected = ref.head.expected(ref, y, pick)
    return ref


def saturations(m, x_q14, x) -> dict:
    """What the fixed-point ranges cut off on this data: input values with |v| >= 2 (Q14
    saturates), and golden pre-activations outside the tables' [-8, 8) (clamped; counted by
    codegen.lossy.saturation_counts, the export's own check)."""
    c = saturation_counts(m, x_q14)
    return {"inputs": int(np.count_nonzero(np.abs(x) >= Q14_LIMIT)), "input_values": int(x.size),
            "pre_clamped": c["gate_table"] + c["cand_table"], "pre_values": int(x_q14.shape[0] * x_q14.shape[1] * 2 * m.H)}
