"""docs/results.md and the README's results block are what the committed results give."""
from __future__ import annotations

import shutil
from pathlib import Path

from trainer.reports import results_page
from trainer.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_the_results_page_and_the_readme_block_are_current():
    assert results_page.stale() == [], "run `python -m trainer results` and commit docs/results.md and README.md"


def test_a_changed_result_makes_the_page_stale(tmp_path, capsys):
    """On a copy: one figure of a committed factorial.json changed -> --check fails, a rerun mends."""
    for d in ("results", "docs"):
        shutil.copytree(REPO / d, tmp_path / d, ignore=shutil.ignore_patterns("jobs", "*.png", "*.npz"))
    shutil.copy(REPO / "README.md", tmp_path / "README.md")
    assert results_page.stale(tmp_path) == []
    p = tmp_path / "results" / "sine-mix" / "factorial.json"
    p.write_text(p.read_text().replace('"test_mse_washout": 0.000', '"test_mse_washout": 0.900', 1))
    assert results_page.stale(tmp_path) == ["docs/results.md", "README.md"]
    results_page.write(tmp_path)
    assert results_page.stale(tmp_path) == []
    assert main(["results", "--check"]) == 0                  # the checkout's own, through the CLI
    assert "current" in capsys.readouterr().out
