"""The kernel and cell test vectors (`python -m codegen vectors`, tests/test_kernels.py): one
entry per test model (its constant arrays, kernel inputs and accumulators, golden sequences and
states, a classifier's logits, the code kernel where it fits) and test_vectors.h rendered from them.
"""
from __future__ import annotations

import numpy as np

from . import golden as G
from cfcbase.artifact import Artifact

from .cliterals import CText, c_comment_text, c_identifier, c_int, c_string, c_u64_hex
from .codekernel import code_kernel
from .export import c_i32s, c_ints, format_fields, model_arrays, template_env
from .golden import IntModel, matvec_golden, run_golden

# Test vectors carry code kernels for models up to CODE_VECTORS_MAX_WEIGHTS weights and for the
# bench's (I, H) (host bench times each model's own kernel from these vectors); more (H = 47:
# 10 kB of code on the M4, 2.5 B per weight on the M0) would not leave test_kernels, with the
# classifiers' and the int8 models' vectors, inside the nRF51's and the LM3S6965's 256 kB of flash.
CODE_VECTORS_MAX_WEIGHTS = 1500
CODE_VECTORS_BENCH = ((1, 8), (1, 16), (1, 32), (1, 64))


def kernel_test_z(m: IntModel, count: int, seed: int) -> np.ndarray:
    """z vectors for the kernel test: extremes (all +max, all -min, alternating) and random."""
    rng = np.random.default_rng(seed)
    z = np.zeros((count, m.cols_padded), np.int16)
    C = m.C
    fixed = [np.full(C, 32767), np.full(C, -32768), np.where(np.arange(C) % 2, 32767, -32768)]
    for k in range(count):
        if k < len(fixed):
            z[k, :C] = fixed[k]
        else:
            z[k, :C] = rng.integers(-32768, 32768, C)
    return z



def test_model_entry(name: str, art: Artifact, x_q14: np.ndarray, kernel_vectors: int = 6, seed: int = 0,
                     code_max_weights: int = CODE_VECTORS_MAX_WEIGHTS) -> dict:
    m = IntModel.from_artifact(art)
    kz = kernel_test_z(m, kernel_vectors, seed)
    ka = matvec_golden(m, kz)
    y, hs = run_golden(m, x_q14, return_states=True)
    head = m.head.golden_vectors(m, hs)               # a classifier: the logits of each sequence
    return dict(name=c_comment_text(name, "test model name"), name_c=c_string(name, "test model name"), head=head,
                m=m, hash=c_u64_hex(m.hash), pre_shift=G.pre_shift(m), b_o=c_int(m.b_o_q, 64), arrays=model_arrays(m),
                kernel_vectors=kernel_vectors, kernel_z=c_ints(kz.ravel(), 16), kz_len=kz.size,
                kernel_acc=c_i32s(ka.ravel()), ka_len=ka.size,
                sequences=x_q14.shape[0], steps=x_q14.shape[1],
                cell_x=c_ints(x_q14.ravel(), 16), cx_len=x_q14.size,
                cell_y=c_ints(y.ravel(), 16), cy_len=y.size,
                cell_h=c_ints(hs[:, -1, :].ravel(), 16), ch_len=hs[:, -1, :].size,
                formats=format_fields(m),
                code=code_kernel(m) if m.weights_s8 is None and (2 * m.H * m.C <= code_max_weights
                                                           or (m.I, m.H) in CODE_VECTORS_BENCH) else None)


def render_test_vectors(entries: list) -> dict:
    env = template_env()
    entries = [dict(e, prefix=c_identifier(f"tv{i}", "array prefix"),
                    code_fn=c_identifier(f"tv{i}_matvec_code", "kernel name")) for i, e in enumerate(entries)]
    text = env.get_template("test_vectors.h.j2").render(
        command=CText("vectors"), models=entries, table_size=G.TABLE_SIZE,
        sigmoid=c_ints(G.sigmoid_table_q15()), tanh=c_ints(G.tanh_table_q15()))
    return {"test_vectors.h": text.encode()}


