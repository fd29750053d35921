"""The weight format of each of the cell's two matrices (gate, candidate) (docs/artifact.md, "Weight formats"): what its integer
values may be, how the artifact names them, how many bits the device stores per weight.

    TERNARY   trits in {-1, 0, +1}, 2 bits each (0 -> 0b00, +1 -> 0b01, -1 -> 0b10)
    INT8      int8 in [-127, 127] (symmetric: -128 is refused), one byte each

Either way the float weights are W = scale[:, None] * values (a scale per row). The trainer,
codegen and the host ask a format for what they need (its name, its largest value, its npz key)
instead of testing which one it is; a new format is one more WeightFormat here and its kernel
(docs/architecture.md, "A new weight format").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WeightFormat:
    name: str             # as the artifact and the reports name it
    code: int             # TRIX_FORMAT_* of firmware/core/trix_cell.h
    wmax: int             # the largest |value|
    key_prefix: str       # npz key of a matrix in this format: prefix + "f" (gate) / "g" (candidate)
    value_word: str       # what one value is called in a message
    bits: int             # bits per weight as the device stores it
    as_code: bool         # `codegen export --kernel code` can write its rows as instructions

    @property
    def range_text(self) -> str:
        return "{-1, 0, +1}" if self.wmax == 1 else f"[-{self.wmax}, {self.wmax}]"

    def first_bad(self, values: np.ndarray):
        """(row, column, value) of the first value outside the format's range, or None."""
        bad = (values < -self.wmax) | (values > self.wmax)
        if not bad.any():
            return None
        r, c = np.argwhere(bad)[0]
        return int(r), int(c), int(values[r, c])

    def __str__(self) -> str:
        return self.name

    __repr__ = __str__


TERNARY = WeightFormat("ternary", 0, 1, "trits_", "trit", 2, True)
INT8 = WeightFormat("int8", 1, 127, "weights_", "int8 weight", 8, False)
FORMATS = {f.name: f for f in (TERNARY, INT8)}
MATRICES = ("f", "g")                  # the cell's two matrices: the gate's, the candidate's


def weight_format(name: str) -> WeightFormat:
    """The format of a name (KeyError for an unknown one: callers name the key at fault)."""
    return FORMATS[name]
