"""The weights-as-code kernel (`codegen export --kernel code`; docs/codegen.md): a ternary model's
mat-vec as generated C, its non-zero trits as adds and subtracts in blocks of register
accumulators, as numbers for templates/matvec_code.j2."""
from __future__ import annotations

import numpy as np

from .cliterals import c_hex_digits
from .errors import CodegenError
from .golden import IntModel

CODE_BLOCK = 8                        # rows per block of register accumulators in the code kernel

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
    other = next((f for f in m.formats if not f.as_code), None)
    if other is not None:
        raise CodegenError(f"--kernel code: weights as code is for ternary models; this model has an {other} head "
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
