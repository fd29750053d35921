"""Strings that come from outside (an artifact, a data file's header, a command line) and may
travel into generated C, reports or logs: one documented character set and length limit.

The set is printable ASCII without the characters that could end or bend a C comment or
string literal, or a shell word: no `*` (so no `*/` or `/*`), no backslash (line
continuation), no `?` (trigraphs), no quotes, no `<>{}$&|^~!` or backtick, no control
characters, nothing outside ASCII:

    A-Z a-z 0-9  space  _ - . , : ; + = ( ) [ ] / @ % #

Every such string is checked where it is read (cfcbase.artifact for the artifact's `task`,
`config`, data reference and column names; cfcbase.series for a CSV's column names); codegen
renders them through its one C-text helper (codegen.cliterals.c_comment_text), which checks
again.
"""
from __future__ import annotations

import re

SAFE_CHARS = "A-Z a-z 0-9, space and _ - . , : ; + = ( ) [ ] / @ % #"
_SAFE = re.compile(r"[A-Za-z0-9 _\-.,:;+=()\[\]/@%#]*")

NAME_MAX = 64           # a task, config, column or class name
PATH_MAX = 512          # a data reference (file path or pkg:PACKAGE/PATH)


def text_problem(value, max_len: int = NAME_MAX) -> str | None:
    """None when ``value`` is a str in the safe set of at most ``max_len`` characters, else why
    not (one phrase, naming the first offending character and its position)."""
    if not isinstance(value, str):
        return f"expected text, got {type(value).__name__}"
    if len(value) > max_len:
        return f"{len(value)} characters, at most {max_len} allowed"
    m = _SAFE.match(value)
    if m.end() != len(value):
        ch = value[m.end()]
        return (f"character {ch!r} (U+{ord(ch):04X}) at position {m.end()} is not allowed "
                f"(allowed: {SAFE_CHARS})")
    return None


def is_safe_text(value, max_len: int = NAME_MAX) -> bool:
    return text_problem(value, max_len) is None
