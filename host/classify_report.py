"""`python -m host verify` on a classifier (artifact version 3): its test windows, the golden
logits and classes, and per target the logit bit-exactness, the on-device accuracy, the
confusion matrix, the per-class recall and the instructions per window (docs/host.md,
"A classifier").

Each test window streams as RESET, STEPs, LOGITS (docs/protocol.md); the device's logits (int32,
Q16) must equal codegen.classify.run_golden_logits' bit for bit, its class their argmax.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import HostError
from .reference import Reference
from .report import print_footprint_and_wall, print_heading


@dataclass
class ClassifierReference(Reference):
    """A Reference whose sequences are windows with a label each (truth and golden_q14 are the
    per-step outputs, all 0 for a classifier: it has no regression readout)."""
    labels: np.ndarray = None             # int64 [N]
    classes: list = None                  # K names
    golden_logits: np.ndarray = None      # int32 [N, K], Q16
    golden_class: np.ndarray = None       # int64 [N]
    float_logits: np.ndarray = None       # float [N, K], the float ternary classifier


def load_classifier_reference(model, sequences=None, data=None) -> ClassifierReference:
    """The classifier's test windows (a labelled file: its TEST file, or ``data``), cut or cycled
    to ``sequences``, and what the golden and float ternary models give on them."""
    from cfcbase.datafile import SeriesError
    from cfcbase.labelled import artifact_windows
    from codegen.classify import float_ternary_logits, run_golden_logits
    from codegen.golden import quantize_input, run_golden
    from .reference import saturations
    art, m = model.art, model.int_model
    try:
        x, labels, source = artifact_windows(art, "test", data)
    except (SeriesError, ValueError) as e:
        raise HostError(f"the model's data: {e}") from None
    if sequences is not None:
        if sequences < 1:
            raise HostError("--sequences must be >= 1")
        if sequences > x.shape[0]:
            source += f", cycled to {sequences} windows"
        pick = np.arange(sequences) % x.shape[0]
        x, labels = x[pick], labels[pick]
    xq = quantize_input(x)
    gold_y = run_golden(m, xq)
    lg, cls = run_golden_logits(m, xq)
    zeros = np.zeros(x.shape[:2])
    sat = saturations(m, xq, x, zeros)
    return ClassifierReference(art, m, x, xq, zeros, gold_y, zeros, source, saturation=sat, labels=labels,
                               classes=list(art.head["classes"]), golden_logits=lg.astype(np.int64),
                               golden_class=cls, float_logits=float_ternary_logits(art, x))


def confusion(pred, labels, K) -> list:
    c = np.zeros((K, K), np.int64)
    np.add.at(c, (np.asarray(labels, np.int64), np.asarray(pred, np.int64)), 1)
    return c.tolist()


def recall(conf) -> list:
    """Per class: [correct, cases] (row sums of the confusion matrix)."""
    return [[int(row[k]), int(sum(row))] for k, row in enumerate(conf)]


def summarise_classifier(rec: dict, run: dict, ref: ClassifierReference) -> dict:
    """The regression record of a classifier target (its per-step outputs, all 0) plus the
    windows' logits: mismatches (the first with window, class, expected and got), the device's
    accuracy, confusion matrix and recall, and instructions per window from BENCH."""
    from codegen.classify import dequantize_logits
    got, cls, steps = run["logits"], run["classes"], run["window_steps"]
    want = ref.golden_logits
    K, N, T = want.shape[1], want.shape[0], ref.x_q14.shape[1]
    bad = np.argwhere(got != want)
    first = None
    if len(bad):
        s, k = (int(v) for v in bad[0])
        first = {"sequence": s, "class": k, "class_name": ref.classes[k], "expected": int(want[s, k]),
                 "got": int(got[s, k]), "expected_float": float(dequantize_logits(want[s, k])),
                 "got_float": float(dequantize_logits(got[s, k]))}
    class_bad = int(np.count_nonzero(cls != ref.golden_class))
    steps_bad = int(np.count_nonzero(steps != min(T, 65535)))
    conf = confusion(cls, ref.labels, K)
    acc = float(np.mean(cls == ref.labels))
    b = rec["bench"]
    per_window = None if b["per_step"] is None else b["per_step"] * T     # BENCH ran one window (T <= 4096)
    rec["classify"] = {
        "classes": ref.classes, "windows": N, "window_steps": T, "logits": int(got.size),
        "logit_mismatches": int(len(bad)), "first_logit_mismatch": first, "class_mismatches": class_bad,
        "window_step_mismatches": steps_bad,
        "accuracy": acc, "correct": int(np.sum(cls == ref.labels)),
        "golden_accuracy": float(np.mean(ref.golden_class == ref.labels)),
        "float_ternary_accuracy": float(np.mean(np.argmax(ref.float_logits, 1) == ref.labels)),
        "confusion": conf, "recall": recall(conf),
        "max_abs_logit_diff_vs_float": float(np.max(np.abs(dequantize_logits(got) - ref.float_logits))),
        "per_window": per_window, "per_window_unit": b["unit"],
    }
    rec["mismatches"] += int(len(bad)) + class_bad + steps_bad
    if first is not None and rec["first_mismatch"] is None:
        rec["first_mismatch"] = first
    return rec


def print_classifier_target(r: dict, out) -> None:
    p = lambda s: print(s, file=out)  # noqa: E731
    c = r["classify"]
    print_heading(p, r)
    p(f"  windows streamed      {c['windows']} x {c['window_steps']} steps ({r['frames_sent']} frames sent: RESET, "
      f"STEPs, LOGITS per window)")
    if c["logit_mismatches"] == 0:
        p(f"  logits                0 mismatches of {c['logits']} (bit-exact with the golden model); classes "
          f"{c['class_mismatches']} mismatches of {c['windows']}")
    else:
        f = c["first_logit_mismatch"]
        p(f"  logits                {c['logit_mismatches']} mismatches of {c['logits']}; first: window "
          f"{f['sequence']}, class {f['class']} ({f['class_name']}): expected {f['expected']} "
          f"({f['expected_float']:+.6f}), got {f['got']} ({f['got_float']:+.6f}); classes {c['class_mismatches']} "
          f"mismatches of {c['windows']}")
    if r["first_mismatch"] and "step" in r["first_mismatch"]:
        f = r["first_mismatch"]
        p(f"  per-step outputs      mismatch at sequence {f['sequence']}, step {f['step']}: expected {f['expected']}, "
          f"got {f['got']}")
    if c["window_step_mismatches"]:
        p(f"  window steps          {c['window_step_mismatches']} windows report another step count than "
          f"{c['window_steps']}")
    for e in r.get("state_losses", []):
        p(f"  device state lost     at window {e['sequence']}, step {e['step']} ({e['what']}); that window ran "
          f"again from h = 0 and is counted from the re-run")
    same = "= golden model" if c["accuracy"] == c["golden_accuracy"] else f"golden model {100 * c['golden_accuracy']:.1f}%"
    p(f"  accuracy              {100 * c['accuracy']:.1f}% on the device ({c['correct']} of {c['windows']}; {same}); "
      f"float ternary {100 * c['float_ternary_accuracy']:.1f}%")
    p("  per-class recall      " + ", ".join(
        f"{name} {('%.1f%%' % (100 * a / n)) if n else 'n/a'} ({a}/{n})" for name, (a, n) in zip(c["classes"], c["recall"])))
    w = max(max(len(n) for n in c["classes"]), 4)
    p(f"  confusion matrix      rows: true class, columns: the device's class")
    p(" " * 24 + " " * (w + 1) + " ".join(f"{n:>{w}s}" for n in c["classes"]))
    for name, row in zip(c["classes"], c["confusion"]):
        p(" " * 24 + f"{name:>{w}s} " + " ".join(f"{v:>{w}d}" for v in row))
    b = r["bench"]
    if c["per_window"] is None:
        p(f"  per window            n/a ({b['how']})")
    elif c["per_window_unit"] == "instructions":
        p(f"  instructions/window   {c['per_window']:.0f}  ({c['window_steps']} steps and the logits; {b['how']})")
    else:
        p(f"  time/window           {c['per_window'] / 1e3:.1f} us  ({b['how']})")
    print_footprint_and_wall(p, r, percent=False)
    out.flush()
