"""The package version every command line prints with --version."""
from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def package_version() -> str:
    """trixcfc's version: the installed distribution's (importlib.metadata), else pyproject.toml's
    (a checkout that was never installed), else 'unknown'."""
    try:
        return version("trixcfc")
    except PackageNotFoundError:
        pass
    try:
        text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
        m = re.search(r'^version\s*=\s*"([^"]+)"', text, re.M)
        if m:
            return m.group(1)
    except OSError:
        pass
    return "unknown"


def version_line() -> str:
    return f"trixcfc {package_version()}"
