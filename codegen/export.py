"""Render the C99 headers (model, golden vectors) from jinja2 template files and write them
atomically (the kernel test vectors: codegen.vectors; the footprint summary: codegen.footprint)."""
from __future__ import annotations

import os
import reprlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

from . import golden as G
from cfcbase.artifact import Artifact
from cfcbase.series import RANGE_FILL
from cfcbase.tasks import artifact_task, label, load_split
from cfcbase.tasks import check_task as known_task
from cfcbase.text import PATH_MAX

from .cliterals import (CText, c_array_body, c_comment_text, c_double, c_hex_bytes, c_hex_digits, c_identifier,
                        c_int, c_join, c_u64_hex)
from .errors import CodegenError
from .golden import IntModel, quantize_input, run_golden
from .lossy import check_lossy, lossy_report, lossy_text, synthetic_inputs, synthetic_steps

TEMPLATE_DIR = Path(__file__).with_name("templates")
GOLDEN_SEQUENCES = 8
KERNELS = ("packed", "code")          # export --kernel: packed trits (the runtime kernels) or weights as code
CODE_BLOCK = 8                        # rows per block of register accumulators in the code kernel


def _finalize(value):
    """What a template field may print: CText (codegen.cliterals' helpers) or a plain int.
    Anything else (a str, float, bool, None, an undefined name) is a CodegenError: a new field
    that skipped the helpers fails at once instead of pasting unchecked text into C."""
    if isinstance(value, CText) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise CodegenError(f"template field {reprlib.repr(value)} ({type(value).__name__}) is not C text: "
                       f"render it through a codegen.cliterals helper (c_comment_text, c_string, c_int, ...)")


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True, finalize=_finalize,
                              autoescape=False,  # C, not HTML: every field is a cliterals CText; _finalize refuses the rest
                              trim_blocks=True, lstrip_blocks=True)


def _ints(a, per_line=12):
    return c_array_body(np.asarray(a, np.int64), per_line)


def _i32s(a, per_line=8):
    return c_array_body(np.asarray(a, np.int64), per_line, fmt=lambda v: c_int(v, 32))


def load_test_split(task, split: str = "test"):
    """(x [N,T,I], y [N,T,1]) from cfcbase.tasks.load_split, or CodegenError for an unknown task.
    ``task`` may be an Artifact: its task, or for a version-2 artifact its data file."""
    if isinstance(task, Artifact):
        task = artifact_task(task)
    try:
        x, y = load_split(task, split)
    except (KeyError, ValueError) as e:             # SeriesError is a ValueError
        raise CodegenError(f"cannot regenerate the {label(task)!r} {split} set: {e}")
    return np.asarray(x, np.float64), np.asarray(y, np.float64)


def model_task(art: Artifact, data_path=None):
    """(task, note) of an artifact: its task, or a data model's task with its file found relative
    to the artifact (or ``data_path``) and its content checked. A file that changed since the
    training is a CodegenError naming --data FILE; one that is not there gives (None, why)."""
    from cfcbase.series_file import DataChanged, DataNotFound, locate_data
    if art.data is None:
        return art.task, ""
    try:
        path, note = locate_data(art, data_path)
    except DataChanged as e:
        raise CodegenError(f"{art.path}: the model's data: {e}") from None
    except DataNotFound as e:
        return None, str(e)
    return artifact_task(art, path), note or ""


def golden_inputs(art: Artifact, n: int = GOLDEN_SEQUENCES, task=None):
    """Inputs for the golden vectors: the first n test-set sequences (``task``: the artifact's,
    model_task), or synthetic sines."""
    if art.head is not None:                          # a classifier [classification hook]
        from .classify_data import golden_windows
        return golden_windows(art, n)
    try:
        if task is None and art.data is not None:
            raise CodegenError("no data file")
        x, _ = load_test_split(task or art, "test")
        if x.ndim == 3 and x.shape[2] == art.I:
            what = c_comment_text(label(task or artifact_task(art)), f"{art.path}: data_json: path", PATH_MAX)
            return quantize_input(x[:n]), CText(f"the first {min(n, len(x))} {what} test sequences")
    except CodegenError:
        pass
    t = np.arange(50)[None, :, None]
    phi = np.linspace(0, 2 * np.pi, n, endpoint=False)[:, None, None]
    x = np.sin(2 * np.pi / 25 * t + phi) * np.ones((1, 1, art.I))
    task = c_comment_text(art.task, f"{art.path}: task")
    return quantize_input(x), CText(f"synthetic sines (no '{task}' test set with I = {int(art.I)})")


def scaling_constants(art: Artifact):
    """The data scaling of a version-2 artifact as C literals for the model header, or None."""
    if art.scaling is None or art.data is None:       # a classifier's scaling: codegen.classify.head_constants
        return None
    sc, d, where = art.scaling, art.data, f"{art.path}: data_json"
    dt, dx = G.differenced(art)
    return {"differenced": dt or any(dx), "diff_target": int(dt), "diff_inputs": c_join(c_int(int(v)) for v in dx),
            "horizon": int(d["horizon"]),
            "source": c_comment_text(d["path"], f"{where}: path", PATH_MAX),
            "inputs": c_join(c_comment_text(v, f"{where}: inputs[{i}]") for i, v in enumerate(d["inputs"])),
            "target": c_comment_text(d["target"], f"{where}: target"),
            "input_offset": c_join(c_double(v) for v in sc["input_offset"]),
            "input_scale": c_join(c_double(v) for v in sc["input_scale"]),
            "target_offset": c_double(sc["target_offset"]), "target_scale": c_double(sc["target_scale"])}


def model_arrays(m: IntModel) -> list:
    """The per-model constant arrays every header declares (the model header and the kernel
    test vectors), in order: C type, name, length (symbolic dims of the model header and the
    number), the comment the model header puts above it, and the initializer body."""
    def arr(ctype, name, dims, length, body, note=None, align=False):
        # the notes are constants written here (they hold `*` and `>`, outside the character set
        # for text from outside): vouched for as CText, checked only not to end the comment
        assert note is None or ("*/" not in note and "\n" not in note)
        return dict(ctype=c_identifier(ctype, "C type"), name=c_identifier(name, "array name"),
                    dims=[c_identifier(d, "dimension") for d in dims], length=int(length), body=body,
                    note=None if note is None else CText(note), align=align)
    R, H = 2 * m.H, m.H
    head = []
    if m.head is not None:                            # a classifier's head [classification hook]
        from .classify import head_arrays
        head = head_arrays(m, arr)
    weights = []
    if len(m.packed):               # the ternary heads' rows (every row of a ternary model)
        weights.append(arr("uint8_t", "trits", ("ROWS" if len(m.packed) == R else "HIDDEN", "ROW_BYTES"),
                           len(m.packed) * m.row_bytes, c_hex_bytes(m.packed.ravel()),
                           "Trits, 2 bits each: 0 -> 0b00, +1 -> 0b01, -1 -> 0b10, trit j at bits 2*(j%4) of "
                           "byte j/4."))
    if m.weights_s8 is not None:    # the int8 heads' rows (docs/fixed_point.md, 2a)
        weights.append(arr("int8_t", "weights", ("ROWS" if len(m.weights_s8) == R else "HIDDEN", "COLS_PADDED"),
                           m.weights_s8.size, _ints(m.weights_s8.ravel(), 16),
                           "int8 weights of the int8 heads, rows padded to COLS_PADDED, per group of 4 columns "
                           "the bytes w0, w2, w1, w3 (CMSIS-NN order; docs/fixed_point.md, 2a).", align=True))
    return weights + [
        arr("int32_t", "row_multiplier", ("ROWS",), R, _i32s(m.row_multiplier),
            "Per-row requantisation: pre = ((acc * M + 2^(n-1)) >> n) + bias (Q16)."),
        arr("int8_t", "row_shift", ("ROWS",), R, _ints(m.row_shift, 16)),
        arr("int32_t", "bias_q16", ("ROWS",), R, _i32s(m.bias_q16)),
        arr("int32_t", "row_requant", ("ROWS", "REQUANT_WORDS"), R * G.ROW_REQUANT_WORDS,
            _i32s(G.row_requant(m).ravel(), G.ROW_REQUANT_WORDS * 2),
            "The same per row as the device computes it: M, K = 2 (bias + 8.0) + 1 (Q16), s; with "
            "hi = ((acc << PRE_SHIFT) * M) >> 32, u = clamp(((hi >> s) + K) >> 1, 0, 2^20 - 1) = pre + 8.0 "
            "(docs/fixed_point.md, 3a)."),
        arr("int16_t", "lam_q15", ("HIDDEN",), H, _ints(m.lam_q15), "lam = exp(-dt / tau), Q15."),
        arr("int32_t", "w_o", ("HIDDEN",), H, _i32s(m.w_o_q), "Readout weights, Q(READOUT_SHIFT)."),
    ] + head


CODE_T2_REGS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14)   # Thumb-2: the accumulators (r14 = lr); r0 z, r1 acc, r2 v


def _code_blocks(T, block: int) -> list:
    """Per block of `block` rows, per column with a non-zero trit in the block, the accumulators
    (0..block-1) it is added to (+1) or subtracted from (-1), the first of each an assignment;
    then the block's rows with their accumulator, or empty (never assigned: 0)."""
    R, C = T.shape
    blocks = []
    for r0 in range(0, R, block):
        rows = list(range(r0, min(R, r0 + block)))
        seen, cols = set(), []
        for j in range(C):
            ops = []
            for k, r in enumerate(rows):
                t = int(T[r, j])
                if t:
                    ops.append(dict(k=k, sign=t, first=k not in seen))
                    seen.add(k)
            if ops:
                cols.append(dict(j=j, ops=ops))
        blocks.append(dict(first=r0, last=rows[-1], cols=cols,
                           stores=[dict(row=r, k=k, empty=k not in seen) for k, r in enumerate(rows)]))
    return blocks


def code_kernel(m: IntModel, block: int = CODE_BLOCK) -> dict:
    """The weights-as-code kernel of a model, as numbers for matvec_code.j2: the C body in blocks
    of `block` rows (register accumulators chosen by the compiler), and the Thumb-2 body in blocks
    of 11 rows (accumulators r3-r12, lr; one LDRSH per input and block, one STM per block), which
    the header uses on Thumb-2 cores (when the inputs' byte offsets fit LDRSH's 12 bits)."""
    if m.has_int8:
        raise CodegenError("--kernel code: weights as code is for ternary models; this model has an int8 head "
                           "(export it with --kernel packed)")
    T = m.trits.astype(np.int64)
    R, C = T.shape
    blocks = _code_blocks(T, block)
    used = {op["k"] for b in blocks for c in b["cols"] for op in c["ops"]}
    t2 = None
    if 2 * (C - 1) <= 4095:
        t2 = _code_blocks(T, len(CODE_T2_REGS))
        for b in t2:
            for c in b["cols"]:
                c["offset"] = 2 * c["j"]
                for op in c["ops"]:
                    op["reg"] = CODE_T2_REGS[op["k"]]
            for st in b["stores"]:
                st["reg"] = CODE_T2_REGS[st["k"]]
    nnz = int(np.count_nonzero(T))
    return dict(hash_hex=c_hex_digits(m.hash), rows=R, cols=C, weights=R * C, nnz=nnz, block=block, blocks=blocks,
                accumulators=sorted(used), reads=nnz > 0, t2=t2, t2_block=len(CODE_T2_REGS))


def render_model_files(art: Artifact, prefix: str = "trix", golden_x=None, source: str = "",
                       kernel: str = "packed", model: IntModel | None = None) -> dict:
    """{file name: bytes} for <prefix>_model.h and <prefix>_golden.h, and with kernel "code"
    <prefix>_matvec_code.h (the weights-as-code kernel, <prefix>_matvec_code). ``model``: the
    artifact's IntModel, when the caller has it already."""
    if kernel not in KERNELS:
        raise CodegenError(f"--kernel {kernel!r}: expected one of {', '.join(KERNELS)}")
    p = c_identifier(prefix)
    P = c_identifier(p.upper())
    m = model if model is not None else IntModel.from_artifact(art)
    env = _env()
    common = dict(command=CText("export"), m=m, p=p, P=P, hash=c_u64_hex(m.hash), hash_hex=c_hex_digits(m.hash),
                  formats=format_fields(m),
                  table_size=G.TABLE_SIZE, pre_shift=G.pre_shift(m), requant_words=G.ROW_REQUANT_WORDS,
                  task=c_comment_text(art.task, f"{art.path}: task"),
                  config=c_comment_text(art.config or "-", f"{art.path}: config"))
    from .classify import golden_head_vectors, head_constants
    model_h = env.get_template("model.h.j2").render(
        **common, b_o=c_int(m.b_o_q, 64), scaling=scaling_constants(art), arrays=model_arrays(m),
        head=head_constants(art, m),
        sigmoid=_ints(m.sigmoid_q15), tanh=_ints(m.tanh_q15), code=kernel == "code")
    files = {}
    if kernel == "code":
        files[f"{p}_matvec_code.h"] = env.get_template("matvec_code.h.j2").render(
            **common, name=c_identifier(f"{p}_matvec_code", "kernel name"), kernel=code_kernel(m)).encode()
    if golden_x is None:
        golden_x, source = golden_inputs(art)
    elif not isinstance(source, CText):
        source = c_comment_text(source, "golden inputs' source", PATH_MAX)
    y = run_golden(m, golden_x)
    golden_h = env.get_template("golden.h.j2").render(
        **common, n=golden_x.shape[0], t=golden_x.shape[1], source=source,
        x=_ints(golden_x.ravel(), 16), y=_ints(y.ravel(), 16),
        head=golden_head_vectors(m, golden_x) if m.head is not None else None)
    return {f"{p}_model.h": model_h.encode(), f"{p}_golden.h": golden_h.encode(), **files}


def check_task(art, data_path=None) -> None:
    """An unknown task is refused as verify refuses it (cfcbase.tasks.check_task)."""
    if art.data is not None:
        return                                  # a data model: its file is found by model_task
    if art.head is not None:                          # a classifier: its task was checked on load
        return
    try:
        known_task(art.task)
    except ValueError as e:
        raise CodegenError(f"{art.path}: task: {e}") from e


def export_lossy_report(art, m, data_path=None, task=None, why=""):
    """(lossy_report, what the inputs were, a note on them): on the task's validation split (for a data model its
    validation block); when that cannot be had (a data model's file is not where the artifact
    says, or the inputs do not fit the model) on synthetic inputs in the model's scaled input
    range (codegen.lossy.synthetic_inputs), so the gate is never skipped. ``data_path``: a data
    model's file given by the user instead of the artifact's (`--data FILE`); ``task``, ``why``:
    model_task's answer, when the caller has it."""
    if task is None and not why:
        task, why = model_task(art, data_path)
    try:
        if task is None:
            raise CodegenError(why)
        x, _ = load_test_split(task, "val")
        if x.ndim == 3 and x.shape[2] == art.I:
            return lossy_report(art, m, x), "the validation set", why
        why = f"the {label(task)} data has {x.shape[2]} input(s), the model I = {art.I}"
    except CodegenError as e:
        if art.data is None:
            raise
        why = str(e)
    x = synthetic_inputs(art.I, synthetic_steps(art))
    return lossy_report(art, m, x), "synthetic inputs", (
        f"smooth random sequences in [-{RANGE_FILL:g}, {RANGE_FILL:g}], the scaled range of the training block, "
        f"instead of the validation set: {why}")


@dataclass
class Exported:
    """A model once through codegen: the validated artifact, its integer model, the rendered
    headers and the lossy gate's report. `python -m codegen export` writes and prints it; the
    host builds every target of a run from one (host.model)."""
    art: Artifact
    model: IntModel
    files: dict                  # {file name: bytes}
    lossy: dict                  # codegen.lossy.lossy_report
    lossy_where: str             # "the validation set" or "synthetic inputs"
    lossy_note: str

    @property
    def hash_hex(self) -> str:
        return self.model.hash_hex

    def lossy_text(self) -> str:
        if "max_abs_logit_diff" in self.lossy:        # a classifier
            from .classify import logit_text
            return logit_text(self.lossy, self.lossy_where, self.lossy_note)
        return lossy_text(self.lossy, self.lossy_where, self.lossy_note, float_model_name(self.model))


def export_model(art: Artifact, prefix: str = "trix", allow_lossy: bool = False, data_path=None,
                 kernel: str = "packed") -> Exported:
    """Everything `codegen export` checks and renders, in memory: the task, the integer model
    (CodegenError for what the fixed point cannot carry), the headers (with kernel "code" also
    the weights-as-code kernel), and the lossy gate (CodegenError above its bounds unless
    allow_lossy)."""
    check_task(art, data_path)
    task, why = model_task(art, data_path)
    m = IntModel.from_artifact(art)
    golden_x, source = golden_inputs(art, task=task)
    files = render_model_files(art, prefix, golden_x=golden_x, source=source, kernel=kernel, model=m)
    if art.head is not None:                          # a classifier: its logits [classification hook]
        from .classify_data import export_logit_report
        return export_logit_report(art, m, files, data_path, allow_lossy)
    report, where, note = export_lossy_report(art, m, data_path, task, why)
    check_lossy(report, art.path, where, allow_lossy, float_model_name(m))
    return Exported(art, m, files, report, where, note)


def float_model_name(m: IntModel) -> str:
    """What the integer model is measured against: the float model of its weight formats."""
    return {("ternary", "ternary"): "float ternary", ("int8", "int8"): "float int8"}.get(tuple(m.formats),
                                                                                        "float ternary/int8")


def format_fields(m: IntModel):
    """The weight formats of a model with an int8 head, for the headers (docs/fixed_point.md, 2a):
    TRIX_FORMAT_* codes per head and the format names; None for a ternary model (its headers stay
    as they were)."""
    if not m.has_int8:
        return None
    names = {"ternary": CText("ternary"), "int8": CText("int8")}
    return dict(f=G.FORMAT_CODE[m.formats[0]], g=G.FORMAT_CODE[m.formats[1]],
                f_name=names[m.formats[0]], g_name=names[m.formats[1]])


def write_outputs(files: dict, out) -> None:
    """Write all files into a temp dir beside ``out``, then rename each into ``out``.

    Everything is rendered before this is called, so a CodegenError never touches ``out``.
    """
    out = Path(out)
    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".codegen-", dir=parent))
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        out.mkdir(exist_ok=True)
        for name in files:
            os.replace(tmp / name, out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
