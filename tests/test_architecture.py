"""The package structure (docs/architecture.md), read from the source: the layers import
downwards only, no import cycle between modules (imports inside functions count), no module
imports another's private names, a function-local import says why it is there, and the model's
kind (task, head, weight format) is asked of its type rather than tested across the tree."""
from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("cfcbase", "codegen", "host", "trainer")      # each imports only those before it


def modules(root=REPO) -> dict:
    """dotted name -> file of every module of the four packages."""
    out = {}
    for pkg in LAYERS:
        for p in sorted((root / pkg).rglob("*.py")):
            parts = list(p.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = p
    return out


def imports(mods: dict):
    """(module, line, imported module, imported name or None, inside a function) of every import
    statement of the packages, relative ones resolved; only imports of the packages' modules."""
    out = []
    for m, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        local = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                 for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
        package = m.split(".") if path.name == "__init__.py" else m.split(".")[:-1]
        for n in ast.walk(tree):
            if isinstance(n, ast.Import):
                targets = [(a.name, None) for a in n.names]
            elif isinstance(n, ast.ImportFrom):
                base = n.module or ""
                if n.level:
                    base = ".".join(package[:len(package) - (n.level - 1)] + ([base] if base else []))
                targets = [(f"{base}.{a.name}", None) if f"{base}.{a.name}" in mods else (base, a.name)
                           for a in n.names]
            else:
                continue
            for name, what in targets:
                while name and name not in mods:          # a submodule's attribute: its module
                    name = name.rpartition(".")[0]
                if name:
                    out.append((m, n.lineno, name, what, id(n) in local))
    return out


def cycles(edges: dict) -> list:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_between_modules():
    mods = modules()
    edges = {}
    for m, _, t, _, _ in imports(mods):
        if t != m and not (mods[m].name == "__init__.py" and t.startswith(m + ".")):
            edges.setdefault(m, set()).add(t)
    assert cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle_through_a_function_local_import(tmp_path):
    for pkg in LAYERS:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "codegen" / "a.py").write_text("from . import b\n")
    (tmp_path / "codegen" / "b.py").write_text("def f():\n    from .a import g  # late\n")
    mods = modules(tmp_path)
    edges = {}
    for m, _, t, _, _ in imports(mods):
        if t != m:
            edges.setdefault(m, set()).add(t)
    assert cycles(edges) == [["codegen.a", "codegen.b"]]


def test_the_layers_import_downwards():
    """cfcbase <- codegen <- host <- trainer: a package imports only those before it."""
    bad = [f"{m}:{line} imports {t}" for m, line, t, _, _ in imports(modules())
           if LAYERS.index(t.split(".")[0]) > LAYERS.index(m.split(".")[0])]
    assert bad == []


def test_no_module_imports_another_modules_private_names():
    bad = [f"{m}:{line} imports {t}.{what}" for m, line, t, what, _ in imports(modules())
           if what and what.startswith("_") and not what.startswith("__") and t != m]
    assert bad == []


def _reason(lines, lineno) -> str:
    """The comment that explains the import at ``lineno`` (1-based): on its line, or on one of the
    two lines above it."""
    for text in lines[max(0, lineno - 3):lineno]:
        if "#" in text:
            why = re.sub(r"noqa(: *[A-Z0-9, ]+)?", "", text.split("#", 1)[1]).strip(" -:")
            if len(why.split()) >= 3:
                return why
    return ""


def test_a_function_local_import_says_why():
    """Imports inside functions only for a reason (an optional dependency, numpy's pinning, the
    start-up time), stated in a comment of at least three words: any import, also of the
    standard library or numpy."""
    bad = set()
    for m, path in modules().items():
        text = path.read_text()
        lines = text.splitlines()
        for f in ast.walk(ast.parse(text)):
            if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for n in ast.walk(f):
                    if isinstance(n, (ast.Import, ast.ImportFrom)) and not _reason(lines, n.lineno):
                        bad.add(f"{m}:{n.lineno}: {lines[n.lineno - 1].strip()}")
    assert sorted(bad) == []


# The model's kind tested in a condition: a head, task or format compared by name or probed for
# presence, the classification-only names of the old mirrored path, the C preprocessor's and the
# firmware's format tests (docs/architecture.md, "Asking the type"). A line counts when it is a
# condition (if, elif, while, assert, a conditional expression, #if, ?:) and names one of them.
KIND_WORDS = re.compile(
    r"""(\bhead\s+is\s+(not\s+)?None|\.head\b(?!_)|is_classif|is_data_task|is_labelled|is_classify|\.data\s+is\s+"""
    r"""(not\s+)?None|\.labelled\b|has_int8|format_[fg]\s*==|==\s*["'](int8|ternary)["']|["'](int8|ternary)["']\s+in\b|"""
    r"""\bpooling\s*==|format_version\s*[=!<>]=|classifier\b|CLASSIFY_TASKS|\bin\s+TASKS\b|\bK\b\s*(if|else)|"""
    r"""\bclasses\b.*\bif\b|DATA_PREFIX|LABELLED_PREFIX|kind\s*==|"classify"|\bif\s+K\b|art\.scaling\s+is|HAS_INT8|"""
    r"""TRIX_CLASSES)""")
CONDITION = re.compile(r"^\s*(if|elif|while|assert)\b|\bif\b.*\belse\b|^\s*#\s*(if|elif)\b|\?")
KIND_CONDITIONALS_MAX = 29            # 135 before the model's kind became types


def kind_conditionals(root=REPO) -> list:
    out = []
    for top in LAYERS + ("firmware",):
        for p in sorted((root / top).rglob("*")):
            if p.suffix not in (".py", ".c", ".h", ".j2") or not p.is_file():
                continue
            for i, line in enumerate(p.read_text().splitlines(), 1):
                code = line.split("#")[0] if p.suffix == ".py" else line
                if CONDITION.search(line) and KIND_WORDS.search(code):
                    out.append(f"{p.relative_to(root)}:{i}: {line.strip()}")
    return out


def test_the_models_kind_is_asked_of_its_type_not_tested_across_the_tree():
    found = kind_conditionals()
    assert len(found) <= KIND_CONDITIONALS_MAX, "\n".join(found)


def test_the_kind_counter_counts_a_kind_test(tmp_path):
    (tmp_path / "codegen").mkdir()
    (tmp_path / "codegen" / "x.py").write_text('if art.head.kind == "classifier":\n    pass\nif x:  # classifier\n    pass\n')
    assert kind_conditionals(tmp_path) == ['codegen/x.py:1: if art.head.kind == "classifier":']


# ---- a fact stated by hand in the manual must be the code's ------------------------------------

def test_the_manual_states_the_target_count_of_the_table():
    """'all N targets' in the README and docs is the target table's count (host.targets)."""
    from host.targets import DEFAULT_TARGETS
    bad = []
    for p in [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md")):
        for i, line in enumerate(p.read_text().splitlines(), 1):
            for n in re.findall(r"\b(?:all|every one of the|on the) (\d+) targets\b", line):
                if int(n) != len(DEFAULT_TARGETS):
                    bad.append(f"{p.relative_to(REPO)}:{i}: {n} targets (the table has {len(DEFAULT_TARGETS)})")
    assert bad == []


# The manual names modules, files and functions: each must exist. A path ending in .py/.c/.h/.j2
# is a file of the checkout; a dotted name of the four packages resolves to a module or an
# attribute of one.
REF = re.compile(r"(?<![\w/.-])((?:cfcbase|codegen|host|trainer|firmware|tests|scripts)(?:[/.][A-Za-z_][\w-]*)+)")


def manual_references(root=REPO):
    out = []
    for p in [root / "README.md"] + sorted((root / "docs").glob("*.md")):
        for i, line in enumerate(p.read_text().splitlines(), 1):
            for m in REF.finditer(line):
                if not line[m.end():].startswith(("*", "<")):     # a glob or a placeholder (x_<name>.c) names no one file
                    out.append((f"{p.relative_to(root)}:{i}", m[1].rstrip(".")))
    return out


def _resolves(ref, root=REPO) -> bool:
    import importlib
    if "/" in ref:
        return (root / ref).exists() or (root / (ref + ".py")).exists()
    if ref.endswith((".py", ".md", ".c", ".h", ".j2", ".json", ".sh")):
        return (root / ref.replace(".", "/", ref.count(".") - 1)).exists()
    parts = ref.split(".")
    if parts[0] not in LAYERS:
        return (root / parts[0]).exists()
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        for name in parts[k:]:
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        return True
    return False


def test_the_manual_names_only_modules_files_and_functions_that_exist():
    bad = [f"{where}: {ref}" for where, ref in manual_references() if not _resolves(ref)]
    assert bad == [], "\n".join(bad)
