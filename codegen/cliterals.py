"""Small helpers that turn numbers and text into C99 (emlearn-style codegen).

Every helper returns a CText: text that is valid C to paste into a generated file as it is.
The templates' jinja2 environment (codegen.export) lets through only CText and int, so a value
that did not come through one of these helpers cannot reach a header. Text from outside (an
artifact's task, config, data reference, column names) goes through c_comment_text or
c_string, which check it against the one character set of cfcbase.text (no `*`, `\\`, `?`,
quotes, ...: nothing can end a comment or a string literal) and its length limit.
"""
from __future__ import annotations

import re

import numpy as np

from cfcbase.text import NAME_MAX, text_problem

from .errors import CodegenError


class CText(str):
    """Text that is valid C to paste as it is: what every helper here returns. Code that wraps
    a str in CText itself vouches for it (only constants written in this package do)."""
    __slots__ = ()


_C_KEYWORDS = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
    "union", "unsigned", "void", "volatile", "while", "_Bool", "_Complex", "_Imaginary",
}
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,30}$")


def c_identifier(name: str, what: str = "prefix") -> CText:
    """Validate a C identifier we build names from (no leading underscore: reserved)."""
    if not isinstance(name, str) or not _IDENT.match(name) or name in _C_KEYWORDS:
        raise CodegenError(f"{what} {name!r} is not a valid C identifier "
                           "(letters, digits, '_', starting with a letter, at most 31 characters, not a keyword)")
    return CText(name)


def c_comment_text(value, what: str, max_len: int = NAME_MAX) -> CText:
    """Text from outside for a C comment: checked against cfcbase.text's character set and
    ``max_len`` (again: the artifact's loader checked it first); CodegenError naming ``what``."""
    problem = text_problem(value, max_len)
    if problem is not None:
        raise CodegenError(f"{what}: {problem}")
    return CText(value)


def c_string(value, what: str, max_len: int = NAME_MAX) -> CText:
    """A C string literal, quotes included, of text checked as c_comment_text checks it (the
    character set has no quote, backslash or `?`, so nothing in it needs an escape)."""
    return CText('"' + c_comment_text(value, what, max_len) + '"')


def c_join(items, sep: str = ", ") -> CText:
    """CText items joined by ``sep`` (which must itself be in the safe character set)."""
    items = list(items)
    bad = [x for x in items if not isinstance(x, CText)]
    if bad:
        raise CodegenError(f"c_join: {bad[0]!r} is not C text (render it through a codegen.cliterals helper)")
    return CText(c_comment_text(sep, "c_join separator").join(items))


def c_int(v, bits: int = 32) -> CText:
    """An integer literal that is valid C99 for its type (no overflowing -2^(b-1) literal)."""
    v = int(v)
    if bits == 64:
        if v == -(1 << 63):
            return CText("(-INT64_C(9223372036854775807) - 1)")
        return CText(f"INT64_C({v})")
    if v == -(1 << 31):
        return CText("(-2147483647 - 1)")
    return CText(str(v))


def c_u64_hex(v) -> CText:
    return CText(f"UINT64_C(0x{int(v):016x})")


def c_hex_digits(v, digits: int = 16) -> CText:
    """A non-negative integer as bare hex digits (a model hash in a comment)."""
    return CText(f"{int(v):0{digits}x}")


def c_double(v) -> CText:
    """A double literal that reads back as exactly v (shortest round-trip repr)."""
    r = repr(float(v))
    if r in ("inf", "-inf", "nan"):
        raise CodegenError(f"{r} has no C99 double literal")
    return CText(r if any(c in r for c in ".en") else r + ".0")


def c_array_body(values, per_line: int = 12, fmt=None, indent: str = "    ") -> CText:
    """Comma-separated literals, ``per_line`` per line, for an array initializer. ``fmt`` turns
    one value into its CText literal (default: an integer in decimal)."""
    vals = np.asarray(values).ravel().tolist()
    if not vals:
        raise CodegenError("empty C array")
    if fmt is None:
        fmt = _c_decimal
    lines = []
    for i in range(0, len(vals), per_line):
        lines.append(indent + c_join([fmt(v) for v in vals[i:i + per_line]]) + ",")
    return CText("\n".join(lines))


def _c_decimal(v) -> CText:
    if not isinstance(v, int) or isinstance(v, bool):
        raise CodegenError(f"{v!r} is not an integer")
    return CText(str(v))


def c_hex_bytes(values, per_line: int = 16) -> CText:
    return c_array_body(values, per_line, fmt=lambda v: CText(f"0x{int(v):02x}"))
