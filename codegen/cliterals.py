"""Small helpers that turn numbers into C99 literals (emlearn-style codegen)."""
from __future__ import annotations

import re

import numpy as np

from .errors import CodegenError

_C_KEYWORDS = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
    "union", "unsigned", "void", "volatile", "while", "_Bool", "_Complex", "_Imaginary",
}
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,30}$")


def c_identifier(name: str, what: str = "prefix") -> str:
    """Validate a C identifier we build names from (no leading underscore: reserved)."""
    if not isinstance(name, str) or not _IDENT.match(name) or name in _C_KEYWORDS:
        raise CodegenError(f"{what} {name!r} is not a valid C identifier "
                           "(letters, digits, '_', starting with a letter, at most 31 characters, not a keyword)")
    return name


def c_int(v, bits: int = 32) -> str:
    """An integer literal that is valid C99 for its type (no overflowing -2^(b-1) literal)."""
    v = int(v)
    if bits == 64:
        if v == -(1 << 63):
            return "(-INT64_C(9223372036854775807) - 1)"
        return f"INT64_C({v})"
    if v == -(1 << 31):
        return "(-2147483647 - 1)"
    return str(v)


def c_u64_hex(v) -> str:
    return f"UINT64_C(0x{int(v):016x})"


def c_array_body(values, per_line: int = 12, fmt=None, indent: str = "    ") -> str:
    """Comma-separated literals, ``per_line`` per line, for an array initializer."""
    vals = np.asarray(values).ravel().tolist()
    if not vals:
        raise CodegenError("empty C array")
    if fmt is None:
        fmt = str
    lines = []
    for i in range(0, len(vals), per_line):
        lines.append(indent + ", ".join(fmt(v) for v in vals[i:i + per_line]) + ",")
    return "\n".join(lines)


def c_hex_bytes(values, per_line: int = 16) -> str:
    return c_array_body(values, per_line, fmt=lambda v: f"0x{int(v):02x}")
