"""The footprint summary `python -m codegen export` prints: the constant data of an integer
model byte by byte (footprint, footprint_text) and, for --kernel code, what the weights as code
cost (code_kernel_text).
"""
from __future__ import annotations

import math

from . import golden as G
from .codekernel import code_kernel
from .golden import IntModel


def footprint(m: IntModel) -> dict:
    rows, C = 2 * m.H, m.C
    weights = rows * C
    trit_bytes = len(m.packed) * m.row_bytes
    int8_bytes = 0 if m.weights_s8 is None else int(m.weights_s8.size)
    return {
        "weights": weights,
        "trit_bytes": trit_bytes,
        "int8_bytes": int8_bytes,
        "int8_weights": 0 if m.weights_s8 is None else len(m.weights_s8) * C,
        "trit_bits_exact": len(m.packed) * C * 2,
        "bits_per_trit": 2.0,
        "bits_per_weight_stored": trit_bytes * 8 / weights,
        "log2_3": math.log2(3),
        "scale_bytes": rows * (4 + 1),          # int32 multiplier + int8 shift
        "bias_bytes": rows * 4,
        "lam_bytes": m.H * 2,
        "readout_bytes": m.H * 4 + 8,          # int32 weights + int64 bias
        "table_bytes": 2 * G.TABLE_SIZE * 2,
        **m.head.footprint(m),
    }


def footprint_text(m: IntModel) -> str:
    f = footprint(m)
    total = sum(v for k, v in f.items() if k.endswith("_bytes"))
    padding = f["trit_bytes"] * 8 - f["trit_bits_exact"]
    if m.weights_s8 is not None:
        heads = ", ".join(f"{h} {fmt}" for h, fmt in zip(("gate", "candidate"), m.formats))
        lines = [f"model {m.hash_hex}: I={m.I} H={m.H}, {f['weights']} weights in {2 * m.H} rows x {m.C} columns "
                 f"({heads})"]
        if f["trit_bytes"]:
            lines.append(f"  trits    {f['trit_bytes']:6d} bytes  = {f['trit_bits_exact'] // 2} trits x 2 bits + "
                         f"{padding} bits of row padding")
        lines += [f"  int8     {f['int8_bytes']:6d} bytes  = {f['int8_weights']} weights x 8 bits + "
                  f"{f['int8_bytes'] - f['int8_weights']} bytes of row padding (rows of {m.C} in {4 * m.row_bytes})",
                  f"  scales   {f['scale_bytes']:6d} bytes  (int32 multiplier + int8 shift per row)",
                  f"  biases   {f['bias_bytes']:6d} bytes",
                  f"  lambda   {f['lam_bytes']:6d} bytes",
                  f"  readout  {f['readout_bytes']:6d} bytes" + m.head.readout_note,
                  *m.head.footprint_lines(m),
                  f"  tables   {f['table_bytes']:6d} bytes  (sigmoid + tanh, 2 x {G.TABLE_SIZE} int16)",
                  f"  total    {total:6d} bytes of constant data"]
        return "\n".join(lines)
    return "\n".join([
        f"model {m.hash_hex}: I={m.I} H={m.H}, {f['weights']} ternary weights in {2 * m.H} rows x {m.C} columns",
        f"  trits    {f['trit_bytes']:6d} bytes  = {f['weights']} trits x 2 bits + {padding} bits of row padding "
        f"(rows of {m.C} trits in {m.row_bytes} bytes)",
        f"  bits/weight: {f['bits_per_trit']:.3f} per trit, {f['bits_per_weight_stored']:.3f} with row padding  "
        f"(log2(3) = {f['log2_3']:.3f} limit)",
        f"  scales   {f['scale_bytes']:6d} bytes  (int32 multiplier + int8 shift per row)",
        f"  biases   {f['bias_bytes']:6d} bytes",
        f"  lambda   {f['lam_bytes']:6d} bytes",
        f"  readout  {f['readout_bytes']:6d} bytes" + m.head.readout_note,
        *m.head.footprint_lines(m),
        f"  tables   {f['table_bytes']:6d} bytes  (sigmoid + tanh, 2 x {G.TABLE_SIZE} int16)",
        f"  total    {total:6d} bytes of constant data",
    ])


def code_kernel_text(m: IntModel, prefix: str = "trix") -> str:
    """What export prints for --kernel code."""
    k = code_kernel(m)
    return (f"  weights as code: {prefix}_matvec_code.h, {k['nnz']} of {k['weights']} trits non-zero -> "
            f"{k['nnz']} adds/subtracts in blocks of {k['t2_block'] if k['t2'] else k['block']} rows on Thumb-2 "
            f"({k['block']} in C elsewhere; flash: about 4 bytes each on Cortex-M, `python -m host bench --qemu` "
            f"measures it)")
