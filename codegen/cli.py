"""Command line: ``python -m codegen {export,accuracy,vectors} ...``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from cfcbase.artifact import committed_model, load_artifact
from cfcbase.errors import ArtifactError
from cfcbase.table import SeriesError
from cfcbase.tasks import FORECAST_TASKS, builtin
from cfcbase.version import version_line

from .errors import CodegenError
from .export import KERNELS, export_model, golden_inputs, write_outputs
from .footprint import code_kernel_text, footprint_text
from .golden import IntModel, quantize_input, run_golden
from .testing import random_artifact, random_classifier, random_inputs_q14
from .vectors import render_test_vectors, test_model_entry

# Shapes for the random kernel-test models: many sizes that are not multiples of 4, 8 or 16.
RANDOM_SHAPES = [(1, 1), (1, 3), (2, 5), (1, 7), (3, 9), (1, 13), (1, 16), (2, 17), (1, 31),
                 (1, 32), (3, 33), (2, 2), (1, 4), (3, 6), (1, 8), (2, 11), (1, 15), (3, 19),
                 (1, 23), (2, 24), (1, 29), (3, 37), (1, 47), (2, 64), (1, 63), (3, 1),
                 (1, 64), (1, 128)]
# Random classifiers (I, H, K, pooling) for the head's vectors (docs/fixed_point.md, 12): both
# poolings, K from 2 to the largest (32), sizes not multiples of 4.
RANDOM_CLASSIFIERS = [(1, 5, 3, "mean"), (2, 16, 4, "last"), (6, 16, 4, "mean"), (3, 9, 2, "last"),
                      (1, 32, 7, "mean"), (6, 8, 32, "mean")]
# Random models with int8 heads (docs/fixed_point.md, 2a): both heads int8 at the bench's I = 1
# widths up to 16 (test_kernels must still fit the nRF51's 256 KB) and odd sizes,
# and mixed ternary / int8 models.
RANDOM_INT8_SHAPES = [(1, 4, "int8", "int8"), (1, 8, "int8", "int8"), (1, 16, "int8", "int8"),
                      (1, 1, "int8", "int8"),
                      (2, 5, "int8", "int8"), (3, 9, "int8", "int8"), (3, 13, "int8", "int8"),
                      (1, 7, "ternary", "int8"), (2, 17, "int8", "ternary"), (3, 6, "ternary", "int8")]


def cmd_export(a) -> int:
    if Path(a.out).exists() and not Path(a.out).is_dir():
        raise CodegenError(f"--out {a.out}: exists and is not a directory")
    ex = export_model(with_data(load_artifact(a.npz), a.data), a.prefix, allow_lossy=a.allow_lossy, kernel=a.kernel)
    write_outputs(ex.files, a.out)
    print(footprint_text(ex.model))
    if a.kernel == "code":
        print(code_kernel_text(ex.model, a.prefix))
    print(ex.lossy_text())
    for name in sorted(ex.files):
        print(f"wrote {Path(a.out) / name}")
    return 0


def with_data(art, data):
    """The artifact with its task reading another copy of its data file (--data FILE), if given."""
    if data is not None:
        try:
            art.task = art.task.with_data(data)
        except ValueError as e:
            raise CodegenError(f"--data: {art.path}: {e}") from None
    return art


def cmd_accuracy(a) -> int:
    worst = 0.0
    for path in a.npz:
        art = with_data(load_artifact(path), a.data)
        if a.task:
            art.task = builtin(a.task)
        x, y = art.task.split("test")
        m = IntModel.from_artifact(art)
        ys, hs = run_golden(m, quantize_input(x), return_states=True)
        line, rel = m.head.accuracy(art, np.asarray(x, np.float64), y, ys, hs, art.task.lengths("test"))
        worst = max(worst, abs(rel))
        print(f"{path}: task {art.task.label()}, {line}")
    if worst > a.tolerance:
        print(f"error: relative washout MSE difference {100 * worst:.3f}% exceeds {100 * a.tolerance:.1f}%",
              file=sys.stderr)
        return 1
    return 0


def cmd_vectors(a) -> int:
    entries = []
    models = list(a.model or [])
    if not a.model:
        models = [p for p in map(committed_model, FORECAST_TASKS) if Path(p).is_file()]
        models += sorted(str(p) for p in Path("results").glob("*/frontier/int8-H16.npz"))
    for path in models:
        art = load_artifact(path)
        x, _ = golden_inputs(art, 4)
        entries.append(test_model_entry(f"{art.task.name}:{Path(path).name}", art, x))
    if a.random > len(RANDOM_SHAPES):
        raise CodegenError(f"--random {a.random}: at most {len(RANDOM_SHAPES)} random shapes")
    for k, (I, H) in enumerate(RANDOM_SHAPES[: a.random]):
        art = random_artifact(I, H, seed=a.seed + k)
        x = random_inputs_q14(I, 3, 20, seed=a.seed + 1000 + k)
        entries.append(test_model_entry(f"random{k}-I{I}-H{H}", art, x, seed=a.seed + k))
    n_cls = min(a.random, len(RANDOM_CLASSIFIERS))
    for k, (I, H, K, pooling) in enumerate(RANDOM_CLASSIFIERS[:n_cls]):
        art = random_classifier(I, H, K, seed=a.seed + 500 + k, pooling=pooling)
        x = random_inputs_q14(I, 3, 20, seed=a.seed + 1500 + k)
        entries.append(test_model_entry(f"classifier{k}-I{I}-H{H}-K{K}-{pooling}", art, x, seed=a.seed + 500 + k))
    if a.random_int8 > len(RANDOM_INT8_SHAPES):
        raise CodegenError(f"--random-int8 {a.random_int8}: at most {len(RANDOM_INT8_SHAPES)} random int8 shapes")
    for k, (I, H, ff, fg) in enumerate(RANDOM_INT8_SHAPES[: a.random_int8]):
        art = random_artifact(I, H, seed=a.seed + 700 + k, formats=(ff, fg))
        x = random_inputs_q14(I, 3, 20, seed=a.seed + 1700 + k)
        entries.append(test_model_entry(f"random-int8-{k}-I{I}-H{H}-{ff}-{fg}", art, x, seed=a.seed + 700 + k))
    write_outputs(render_test_vectors(entries), a.out)
    print(f"wrote {Path(a.out) / 'test_vectors.h'}: {len(entries)} models "
          f"({len(models)} trained, {a.random} random, {n_cls} random classifiers, {a.random_int8} random with int8 heads)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m codegen",
                                 description="Export a trained ternary CfC (best.npz) to C99 headers.")
    ap.add_argument("--version", action="version", version=version_line(), help="print the version and exit")
    sub = ap.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="validate best.npz and write <prefix>_model.h and <prefix>_golden.h")
    e.add_argument("npz")
    e.add_argument("--out", default="build/generated", help="output directory (default build/generated)")
    e.add_argument("--prefix", default="trix", help="C identifier prefix (default trix)")
    e.add_argument("--kernel", choices=KERNELS, default="packed",
                   help="packed (default): the trits packed 2 bits each, run by the target's kernels; code: "
                        "also <prefix>_matvec_code.h, the model's mat-vec as generated C (its non-zero trits as "
                        "adds and subtracts, rows in blocks of register accumulators), which the firmware then "
                        "runs instead (more flash, fewer instructions: `python -m host bench` prints both); ref: "
                        "packed trits run by the portable reference kernel on every target, which needs no lookup "
                        "table (the least RAM, more instructions: `python -m host verify --kernel ref` prints both)")
    e.add_argument("--allow-lossy", action="store_true",
                   help="export even when the integer model is far from the float ternary model on the "
                        "task's validation set (or, without the data file, on synthetic inputs): washout MSE or "
                        "largest output difference above the bounds of docs/fixed_point.md (reported either way)")
    e.add_argument("--data", default=None, metavar="FILE",
                   help="a model trained on your own series: read its data from FILE instead of the file its "
                        "artifact names (found relative to the artifact; its content is checked against the "
                        "artifact's sha256)")
    e.set_defaults(func=cmd_export)
    c = sub.add_parser("accuracy", help="golden integer vs float ternary washout MSE on the test set")
    c.add_argument("npz", nargs="+")
    c.add_argument("--task", help="task to evaluate on (default: the artifact's)")
    c.add_argument("--tolerance", type=float, default=0.05, help="relative tolerance (default 0.05)")
    c.add_argument("--data", default=None, metavar="FILE",
                   help="a model trained on your own series: read its test block from FILE instead of the file its "
                        "artifact names")
    c.set_defaults(func=cmd_accuracy)
    v = sub.add_parser("vectors", help="write test_vectors.h for the firmware kernel/cell tests")
    v.add_argument("--out", required=True)
    v.add_argument("--model", action="append", help="trained best.npz to include (repeatable; default "
                   f"{', '.join(map(committed_model, FORECAST_TASKS))} and the committed int8 models "
                   f"results/*/frontier/int8-H16.npz when present)")
    v.add_argument("--random", type=int, default=len(RANDOM_SHAPES),
                   help=f"number of random models (default {len(RANDOM_SHAPES)})")
    v.add_argument("--random-int8", type=int, default=len(RANDOM_INT8_SHAPES),
                   help=f"number of random models with int8 heads (default {len(RANDOM_INT8_SHAPES)}: both heads "
                        "int8 at I = 1, H = 4..64 and odd sizes, and mixed ternary / int8 models)")
    v.add_argument("--seed", type=int, default=0, help="seed of the random models and inputs (default 0)")
    v.set_defaults(func=cmd_vectors)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CodegenError, ArtifactError, SeriesError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:   # unwritable --out, disk full, ...: still one line, no traceback
        print(f"error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 2
