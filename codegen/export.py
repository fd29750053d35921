"""`codegen export` in memory: the checks, the integer model and the rendered C99 headers (the
model and its golden vectors) from jinja2 template files (the kernel test vectors:
codegen.vectors; the footprint summary: codegen.footprint; writing: write_outputs).

What depends on the model's kind is asked of its parts: the head (codegen.heads: its arrays, its
header block, its golden outputs, its check against the float model) and the task (its data for
the golden vectors and the lossy gate, its header block: codegen.task_blocks)."""
from __future__ import annotations

import os
import reprlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

from cfcbase.artifact import Artifact
from cfcbase.series import RANGE_FILL
from cfcbase.series_file import DataChanged
from cfcbase.table import SeriesError
from cfcbase.text import PATH_MAX

from . import golden as G
from .cliterals import CText, c_array_body, c_comment_text, c_hex_bytes, c_hex_digits, c_identifier, c_int, c_u64_hex
from .codekernel import code_kernel
from .errors import CodegenError
from .golden import IntModel, quantize_input, run_golden
from .heads import INT_HEADS
from .lossy import check_lossy, check_report, check_text
from .synthetic import synthetic_inputs, synthetic_steps
from .task_blocks import task_blocks

TEMPLATE_DIR = Path(__file__).with_name("templates")
GOLDEN_SEQUENCES = 8
# export --kernel: packed trits run by the target's kernel (the target table's), weights as code, or
# packed trits run by the portable reference on every target (no lookup table: the least RAM)
KERNELS = ("packed", "code", "ref")


def _finalize(value):
    """What a template field may print: CText (codegen.cliterals' helpers) or a plain int.
    Anything else (a str, float, bool, None, an undefined name) is a CodegenError: a new field
    that skipped the helpers fails at once instead of pasting unchecked text into C."""
    if isinstance(value, CText) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise CodegenError(f"template field {reprlib.repr(value)} ({type(value).__name__}) is not C text: "
                       f"render it through a codegen.cliterals helper (c_comment_text, c_string, c_int, ...)")


def template_env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True, finalize=_finalize,
                              autoescape=False,  # C, not HTML: every field is a cliterals CText; _finalize refuses the rest
                              trim_blocks=True, lstrip_blocks=True)


def c_ints(a, per_line=12):
    return c_array_body(np.asarray(a, np.int64), per_line)


def c_i32s(a, per_line=8):
    return c_array_body(np.asarray(a, np.int64), per_line, fmt=lambda v: c_int(v, 32))


# ---- the data of the golden vectors and of the lossy gate -------------------------------------------

def _split(art: Artifact, split: str):
    """(x float64 [N, T, I], None) of the model's task, or (None, why not): the task's file is absent
    or is not the model's inputs. A file that changed since the training is refused (CodegenError)."""
    try:
        x, _ = art.task.split(split)
    except DataChanged as e:
        raise CodegenError(f"{art.path}: the model's data: {e}") from None
    except SeriesError as e:
        return None, str(e)
    x = np.asarray(x, np.float64)
    if x.ndim != 3 or x.shape[2] != art.I:
        return None, f"the {art.task.label()} data has {x.shape[-1]} input(s), the model I = {art.I}"
    return x, None


def golden_inputs(art: Artifact, n: int = GOLDEN_SEQUENCES):
    """(x int16 Q14, their source as C text) for the golden vectors: the first n test windows of
    the model's task, or the head's synthetic stand-in when they cannot be had."""
    head = INT_HEADS[art.head.kind]
    x, _ = _split(art, "test")
    if x is not None:
        lengths = art.task.lengths("test")
        k = min(n, len(x))
        T = x.shape[1] if lengths is None else int(lengths[:k].min())   # windows of their own lengths: their
        cut = "" if T == x.shape[1] else f", their first {T} steps (a window's first steps are a window too)"
        return quantize_input(x[:k, :T]), CText(head.golden_source(art, k) + cut)
    x, text = head.stand_in(art, n)
    return quantize_input(x), CText(text)


def lossy_inputs(art: Artifact):
    """(x float64, what they are, a note) for the lossy gate: the task's validation windows, or
    synthetic inputs in the model's scaled input range when its file cannot be read."""
    head = INT_HEADS[art.head.kind]
    x, why = _split(art, "val")
    if x is not None:
        return x, head.VAL_WORDS, ""
    return synthetic_inputs(art.I, synthetic_steps(art)), "synthetic inputs", (
        f"smooth random sequences in [-{RANGE_FILL:g}, {RANGE_FILL:g}], the scaled range of the {head.TRAIN_WORDS}, "
        f"instead of {head.VAL_WORDS}: {why}")


# ---- the headers ------------------------------------------------------------------------------------

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
    weights = []
    if len(m.packed):               # the ternary matrices' rows (every row of a ternary model)
        weights.append(arr("uint8_t", "trits", ("ROWS" if len(m.packed) == R else "HIDDEN", "ROW_BYTES"),
                           len(m.packed) * m.row_bytes, c_hex_bytes(m.packed.ravel()),
                           "Trits, 2 bits each: 0 -> 0b00, +1 -> 0b01, -1 -> 0b10, trit j at bits 2*(j%4) of "
                           "byte j/4."))
    if m.weights_s8 is not None:    # the int8 matrices' rows (docs/fixed_point.md, 2a)
        weights.append(arr("int8_t", "weights", ("ROWS" if len(m.weights_s8) == R else "HIDDEN", "COLS_PADDED"),
                           m.weights_s8.size, c_ints(m.weights_s8.ravel(), 16),
                           "int8 weights of the int8 heads, rows padded to COLS_PADDED, per group of 4 columns "
                           "the bytes w0, w2, w1, w3 (CMSIS-NN order; docs/fixed_point.md, 2a).", align=True))
    return weights + [
        arr("int32_t", "row_multiplier", ("ROWS",), R, c_i32s(m.row_multiplier),
            "Per-row requantisation: pre = ((acc * M + 2^(n-1)) >> n) + bias (Q16)."),
        arr("int8_t", "row_shift", ("ROWS",), R, c_ints(m.row_shift, 16)),
        arr("int32_t", "bias_q16", ("ROWS",), R, c_i32s(m.bias_q16)),
        arr("int32_t", "row_requant", ("ROWS", "REQUANT_WORDS"), R * G.ROW_REQUANT_WORDS,
            c_i32s(G.row_requant(m).ravel(), G.ROW_REQUANT_WORDS * 2),
            "The same per row as the device computes it: M, K = 2 (bias + 8.0) + 1 (Q16), s; with "
            "hi = ((acc << PRE_SHIFT) * M) >> 32, u = clamp(((hi >> s) + K) >> 1, 0, 2^20 - 1) = pre + 8.0 "
            "(docs/fixed_point.md, 3a)."),
        arr("int16_t", "lam_q15", ("HIDDEN",), H, c_ints(m.lam_q15), "lam = exp(-dt / tau), Q15."),
        arr("int32_t", "w_o", ("HIDDEN",), H, c_i32s(m.w_o_q), "Readout weights, Q(READOUT_SHIFT)."),
    ] + m.head.arrays(m, arr)


def format_fields(m: IntModel):
    """The weight formats of a model with an int8 matrix, for the headers (docs/fixed_point.md,
    2a): TRIX_FORMAT_* codes per matrix and the format names; None for a ternary model (its headers
    stay as they were)."""
    if m.weights_s8 is None:
        return None
    return dict(f=m.formats[0].code, g=m.formats[1].code, f_name=CText(m.formats[0].name),
                g_name=CText(m.formats[1].name))


def render_model_files(art: Artifact, prefix: str = "trix", golden_x=None, source: str = "",
                       kernel: str = "packed", model: IntModel | None = None) -> dict:
    """{file name: bytes} for <prefix>_model.h and <prefix>_golden.h, and with kernel "code"
    <prefix>_matvec_code.h (the weights-as-code kernel, <prefix>_matvec_code); kernel "ref" makes
    the model header ask for the reference kernel. ``model``: the
    artifact's IntModel, when the caller has it already."""
    if kernel not in KERNELS:
        raise CodegenError(f"--kernel {kernel!r}: expected one of {', '.join(KERNELS)}")
    p = c_identifier(prefix)
    P = c_identifier(p.upper())
    m = model if model is not None else IntModel.from_artifact(art)
    env = template_env()
    common = dict(command=CText("export"), m=m, p=p, P=P, hash=c_u64_hex(m.hash), hash_hex=c_hex_digits(m.hash),
                  formats=format_fields(m),
                  table_size=G.TABLE_SIZE, pre_shift=G.pre_shift(m), requant_words=G.ROW_REQUANT_WORDS,
                  task=c_comment_text(art.task.name, f"{art.path}: task"),
                  config=c_comment_text(art.config or "-", f"{art.path}: config"))
    model_h = env.get_template("model.h.j2").render(
        **common, b_o=c_int(m.b_o_q, 64), arrays=model_arrays(m),
        blocks=[dict(template=t, **ctx) for t, ctx in m.head.blocks(art, m) + task_blocks(art)],
        sigmoid=c_ints(m.sigmoid_q15), tanh=c_ints(m.tanh_q15), code=kernel == "code", ref=kernel == "ref")
    files = {}
    if kernel == "code":
        files[f"{p}_matvec_code.h"] = env.get_template("matvec_code.h.j2").render(
            **common, name=c_identifier(f"{p}_matvec_code", "kernel name"), kernel=code_kernel(m)).encode()
    if golden_x is None:
        golden_x, source = golden_inputs(art)
    elif not isinstance(source, CText):
        source = c_comment_text(source, "golden inputs' source", PATH_MAX)
    y, hs = run_golden(m, golden_x, return_states=True)
    golden_h = env.get_template("golden.h.j2").render(
        **common, n=golden_x.shape[0], t=golden_x.shape[1], source=source,
        x=c_ints(golden_x.ravel(), 16), y=c_ints(y.ravel(), 16), head=m.head.golden_vectors(m, hs))
    return {f"{p}_model.h": model_h.encode(), f"{p}_golden.h": golden_h.encode(), **files}


# ---- the export -------------------------------------------------------------------------------------

@dataclass
class Exported:
    """A model once through codegen: the validated artifact, its integer model, the rendered
    headers and the lossy gate's report. `python -m codegen export` writes and prints it; the
    host builds every target of a run from one (host.model)."""
    art: Artifact
    model: IntModel
    files: dict                  # {file name: bytes}
    lossy: dict                  # the head's check_report (codegen.heads)
    lossy_where: str             # "the validation set", "synthetic inputs", ...
    lossy_note: str

    @property
    def hash_hex(self) -> str:
        return self.model.hash_hex

    def lossy_text(self) -> str:
        return check_text(self.model, self.lossy, self.lossy_where, self.lossy_note)


def export_model(art: Artifact, prefix: str = "trix", allow_lossy: bool = False, kernel: str = "packed") -> Exported:
    """Everything `codegen export` checks and renders, in memory: the integer model (CodegenError
    for what the fixed point cannot carry), the headers (with kernel "code" also the
    weights-as-code kernel), and the lossy gate (CodegenError above the head's bounds unless
    allow_lossy). A model of a user's data reads it from its task (art.task.with_data: another
    copy of the file)."""
    m = IntModel.from_artifact(art)
    golden_x, source = golden_inputs(art)
    files = render_model_files(art, prefix, golden_x=golden_x, source=source, kernel=kernel, model=m)
    x, where, note = lossy_inputs(art)
    report = check_report(art, m, x, art.task.lengths("val") if where == INT_HEADS[art.head.kind].VAL_WORDS else None)
    check_lossy(m, report, art.path, where, allow_lossy)
    return Exported(art, m, files, report, where, note)


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
