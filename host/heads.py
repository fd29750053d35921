"""What `host verify` does per kind of head (docs/host.md), one class per cfcbase.heads kind,
chosen in HOST_HEADS by the head's `kind`:

    ReadoutVerify     every step's output y (Q14) against the golden model's, bit for bit; MSE
                      against the truth and the float model, beside persistence and AR(p) on the
                      same steps, and a series' figures in the target's own units
    ClassifierVerify  each window's K logits (Q16) and class after its steps (RESET, STEPs, LOGITS:
                      docs/protocol.md) against the golden model's, bit for bit; the accuracy on the
                      device, the confusion matrix and the recall per class, beside the classic
                      baselines on the same windows

Each answers the same questions: what the reference holds (expected), what the stream asks the
device for, what a target's record adds (summarise), how it is printed, and the run's last words.
"""
from __future__ import annotations

import sys

import numpy as np

from cfcbase.cell import float_outputs
from cfcbase.heads import MAX_WINDOW
from cfcbase.metrics import WASHOUT, class_verdict, confusion, verdict, washout_mse
from cfcbase.series import Q14_LIMIT
from cfcbase.table import SeriesError
from codegen.golden import dequantize_output, golden_stream
from codegen.heads import dequantize_logits

from .errors import HostError
from .protocol import MAX_BENCH
from .report import print_footprint_and_wall, print_heading


def mse_pair(pred, ref) -> dict:
    """MSE over all steps and over t >= WASHOUT (cfcbase.metrics.washout_mse, as `python -m codegen
    accuracy` computes it, so equal outputs give bit-identical figures)."""
    p, r = np.asarray(pred, np.float64), np.asarray(ref, np.float64)
    wash = washout_mse(p, r) if p.shape[1] > WASHOUT else None
    return {"all": float(np.mean((p - r) ** 2)), "washout": wash}


def _fmt_mse(d):
    w = "n/a" if d["washout"] is None else f"{d['washout']:.4e}"
    return f"all {d['all']:.4e}   washout (t>={WASHOUT}) {w}"


# ---- a readout: a forecast per step -----------------------------------------------------------

class ReadoutVerify:
    kind = "readout"

    @staticmethod
    def expected(ref, y, pick) -> dict:
        """The truth, the float model's outputs, the baselines on the same sequences and (a series)
        the target's units."""
        truth = np.asarray(y, np.float64).reshape(ref.x.shape[0], ref.x.shape[1])
        ref.saturation.update(target=int(np.count_nonzero(np.abs(truth) >= Q14_LIMIT)), target_values=int(truth.size))
        task = ref.art.task
        base = {k: mse_pair(p[pick], truth) for k, p in task.baseline_predictions("test").items()}
        out = {"truth": truth, "float": float_outputs(ref.art, ref.x), "baselines": base, "units": None}
        u = task.units()
        if u is not None:
            k = u["mse_factor"]
            out["units"] = dict(u, baselines={name: {key: (v * k if v is not None else None) for key, v in b.items()}
                                              for name, b in base.items()})
        return out

    @staticmethod
    def stream(ref) -> dict:
        return {}

    @staticmethod
    def stream_expected(ref, every) -> dict:
        raise HostError(f"--stream decides classes on a continuous signal; {ref.art.path} is a regression "
                        f"model (its per-step outputs are checked without it)")

    @staticmethod
    def bench_steps(T) -> int:
        return 1000

    @staticmethod
    def saturation_text(sat) -> str:
        return f", targets {sat['target']} of {sat['target_values']}"

    @staticmethod
    def summarise(rec, run, ref) -> dict:
        y, e = run["y_q14"], ref.expected
        yf, gf = dequantize_output(y), dequantize_output(ref.golden_q14)
        rec.update({"mse_vs_truth": mse_pair(yf, e["truth"]), "mse_vs_float_ternary": mse_pair(yf, e["float"]),
                    "golden_mse_vs_truth": mse_pair(gf, e["truth"]),
                    "golden_mse_vs_float_ternary": mse_pair(gf, e["float"])})
        u = e["units"]
        if u:
            rec["target_units"] = {"target": u["target"], "baselines": u["baselines"], "differenced": u["differenced"],
                                   "mse_vs_truth": {k: (v * u["mse_factor"] if v is not None else None)
                                                    for k, v in rec["mse_vs_truth"].items()}}
        if e["baselines"] and rec["mse_vs_truth"]["washout"] is not None:
            rec["baselines"] = e["baselines"]
            rec["verdict"] = verdict(rec["mse_vs_truth"]["washout"],
                                     {k: v["washout"] for k, v in e["baselines"].items()})
        return rec

    @staticmethod
    def print(r, p) -> None:
        p(f"  steps streamed        {r['steps']} ({r['sequences']} sequences x {r['steps_per_sequence']} steps, "
          f"{r['frames_sent']} frames sent)")
        if r["mismatches"] == 0:
            p("  mismatches            0 (bit-exact with the golden model)")
        else:
            f = r["first_mismatch"]
            p(f"  mismatches            {r['mismatches']} of {r['steps']}; first: sequence {f['sequence']}, "
              f"step {f['step']}: expected {f['expected']} ({f['expected_float']:+.6f}), "
              f"got {f['got']} ({f['got_float']:+.6f})")
        for e in r.get("state_losses", []):
            p(f"  device state lost     at sequence {e['sequence']}, step {e['step']} ({e['what']}); that "
              f"sequence ran again from h = 0 and is counted from the re-run")
        sk = r.get("soak")
        if sk and sk["host_rss_start"] is not None:
            p(f"  host RSS              {sk['host_rss_start'] / 2**20:.1f} MiB at the start of the stream, "
              f"{sk['host_rss_end'] / 2**20:.1f} MiB at its end")
        if sk and sk.get("stack_high_water_end") is not None:
            first = sk["stack_high_water_start"]
            p(f"  stack high-water      {first if first is not None else 'n/a'} B after the first sequence, "
              f"{sk['stack_high_water_end']} B at the end, of {sk['stack_size']} B (painted stack read through the "
              f"QEMU monitor)")
        same = r["mse_vs_truth"] == r["golden_mse_vs_truth"]
        p(f"  MSE vs truth          {_fmt_mse(r['mse_vs_truth'])}   "
          + ("(= golden model)" if same else f"(golden model: {_fmt_mse(r['golden_mse_vs_truth'])})"))
        p(f"  MSE vs float ternary  {_fmt_mse(r['mse_vs_float_ternary'])}")
        u = r.get("target_units")
        if u:
            level = "; the level forecast: its level at the input's row + the predicted change" if u.get("differenced") else ""
            p(f"  MSE in target units   {_fmt_mse(u['mse_vs_truth'])}   (target {u['target']}{level})")
            for k, v in u["baselines"].items():
                p(f"    baseline {k:<12s} {_fmt_mse(v)}   (same windows, target units)")
        elif r.get("baselines"):
            for k, v in r["baselines"].items():
                p(f"    baseline {k:<12s} {_fmt_mse(v)}   (same sequences)")
        if r.get("verdict"):
            p(f"  verdict               the model is {r['verdict']} (washout MSE, same steps)")
        b = r["bench"]
        if b["per_step"] is None:
            p(f"  per step              n/a ({b['how']})")
        elif b["unit"] == "instructions":
            p(f"  instructions/step     {b['per_step']:.0f}  ({b['how']})")
        else:
            p(f"  time/step             {b['per_step']:.0f} ns  ({b['how']})")
        print_footprint_and_wall(p, r)

    @staticmethod
    def pass_words(reports, ref) -> str:
        return ""


# ---- a classifier: K logits per window ----------------------------------------------------------

def recall(conf) -> list:
    """Per class: [correct, cases] (row sums of the confusion matrix)."""
    return [[int(row[k]), int(sum(row))] for k, row in enumerate(conf)]


class ClassifierVerify:
    kind = "classifier"

    @staticmethod
    def expected(ref, y, pick) -> dict:
        """The labels, the golden logits and classes, the float model's logits, the baselines."""
        lg, cls = ref.model.head.outputs(None, ref.golden_states, ref.lengths)
        labels = np.asarray(y, np.int64)
        try:                               # they need the training windows: a TRAIN file that is not there has none
            base = {k: float(np.mean(p[pick] == labels)) for k, p in ref.art.task.baseline_predictions("test").items()}
        except SeriesError:
            base = {}
        return {"labels": labels, "classes": list(ref.art.head.classes),
                "logits": lg.astype(np.int64), "class": cls, "float_logits": float_outputs(ref.art, ref.x, ref.lengths),
                "baselines": base}

    @staticmethod
    def stream(ref) -> dict:
        return {"classes": len(ref.expected["classes"]), "expected_logits": ref.expected["logits"],
                "lengths": ref.lengths}

    @staticmethod
    def stream_expected(ref, every) -> dict:
        """The test windows end to end as one continuous signal (each case its own steps, in test
        order), the case each step belongs to, and the golden decisions after every ``every`` steps
        (codegen.golden.golden_stream): the state runs on across cases and decisions."""
        N, T, _ = ref.x_q14.shape
        n = np.full(N, T, np.int64) if ref.lengths is None else np.asarray(ref.lengths, np.int64)
        x = np.concatenate([ref.x_q14[i, : n[i]] for i in range(N)])
        if not 1 <= every <= min(MAX_WINDOW, len(x)):
            raise HostError(f"--stream {every}: expected 1 .. {min(MAX_WINDOW, len(x))} steps between decisions "
                            f"(the stream has {len(x)} steps; a window pools at most {MAX_WINDOW})")
        starts = np.concatenate([[0], np.cumsum(n)[:-1]])
        case = np.repeat(np.arange(N), n)
        lg, cls = golden_stream(ref.model, x, every)
        ends = (np.arange(len(cls)) + 1) * every - 1            # the last step each decision pooled
        return {"x": x, "every": every, "starts": starts, "logits": lg.astype(np.int64),
                "class": cls, "labels": ref.expected["labels"][case[ends]], "decision_case": case[ends]}

    @staticmethod
    def stream_summary(ref, run) -> dict:
        """A stream's decisions against the golden model's (bit for bit), their accuracy against the
        case each ends in, and the detection latency: per case, the steps from its first step to the
        end of the first decision inside it that names its class."""
        e, (got, cls, steps) = ref.stream_expected, run["stream"]
        want, every = e["logits"], e["every"]
        bad = np.argwhere(got != want)
        first = None
        if len(bad):
            d, k = (int(v) for v in bad[0])
            first = {"decision": d, "step": int((d + 1) * every - 1), "class": k, "expected": int(want[d, k]),
                     "got": int(got[d, k])}
        labels = ref.expected["labels"]
        latency, missed = [], 0
        for i, s0 in enumerate(e["starts"]):
            hit = np.flatnonzero((e["decision_case"] == i) & (cls == labels[i]))
            if len(hit):
                latency.append(int((hit[0] + 1) * every - s0))
            else:
                missed += 1
        lat = np.asarray(latency, np.int64)
        return {"every": every, "steps": int(len(e["x"])), "cases": int(len(e["starts"])), "decisions": int(len(cls)),
                "logits": int(got.size), "logit_mismatches": int(len(bad)), "first_logit_mismatch": first,
                "class_mismatches": int(np.count_nonzero(cls != e["class"])),
                "step_mismatches": int(np.count_nonzero(steps != every)),
                "accuracy": float(np.mean(cls == e["labels"])) if len(cls) else None,
                "golden_accuracy": float(np.mean(e["class"] == e["labels"])) if len(cls) else None,
                "latency_median": float(np.median(lat)) if len(lat) else None,
                "latency_max": int(lat.max()) if len(lat) else None,
                "latency_min": int(lat.min()) if len(lat) else None, "cases_never_named": missed}

    @staticmethod
    def bench_steps(T) -> int:
        return min(T, MAX_BENCH)

    @staticmethod
    def saturation_text(sat) -> str:
        return ""

    @staticmethod
    def summarise(rec, run, ref) -> dict:
        """The windows' logits: mismatches (the first with window, class, expected and got), the
        device's accuracy, confusion matrix and recall, and instructions per window from BENCH."""
        e = ref.expected
        got, cls, steps = run["logits"], run["classes"], run["window_steps"]
        want = e["logits"]
        K, N, T = want.shape[1], want.shape[0], ref.x_q14.shape[1]
        bad = np.argwhere(got != want)
        first = None
        if len(bad):
            s, k = (int(v) for v in bad[0])
            first = {"sequence": s, "class": k, "class_name": e["classes"][k], "expected": int(want[s, k]),
                     "got": int(got[s, k]), "expected_float": float(dequantize_logits(want[s, k])),
                     "got_float": float(dequantize_logits(got[s, k]))}
        class_bad = int(np.count_nonzero(cls != e["class"]))
        n = np.full(N, T) if ref.lengths is None else ref.lengths
        steps_bad = int(np.count_nonzero(steps != np.minimum(n, MAX_WINDOW)))
        conf = confusion(cls, e["labels"], K).tolist()
        acc = float(np.mean(cls == e["labels"]))
        b = rec["bench"]
        per_window = None if b["per_step"] is None else b["per_step"] * T     # BENCH ran one window (T <= 4096)
        rec["classify"] = {
            "classes": e["classes"], "windows": N, "window_steps": T, "shortest_window": int(np.min(n)),
            "logits": int(got.size),
            "logit_mismatches": int(len(bad)), "first_logit_mismatch": first, "class_mismatches": class_bad,
            "window_step_mismatches": steps_bad,
            "accuracy": acc, "correct": int(np.sum(cls == e["labels"])),
            "golden_accuracy": float(np.mean(e["class"] == e["labels"])),
            "float_ternary_accuracy": float(np.mean(np.argmax(e["float_logits"], 1) == e["labels"])),
            "confusion": conf, "recall": recall(conf),
            "max_abs_logit_diff_vs_float": float(np.max(np.abs(dequantize_logits(got) - e["float_logits"]))),
            "per_window": per_window, "per_window_unit": b["unit"],
        }
        if e["baselines"]:
            rec["baselines"] = e["baselines"]
            rec["verdict"] = class_verdict(acc, e["baselines"])
        rec["mismatches"] += int(len(bad)) + class_bad + steps_bad
        if "stream" in run:
            st = rec["stream"] = ClassifierVerify.stream_summary(ref, run)
            rec["mismatches"] += st["logit_mismatches"] + st["class_mismatches"] + st["step_mismatches"]
            if rec["first_mismatch"] is None:
                rec["first_mismatch"] = st["first_logit_mismatch"]
        if first is not None and rec["first_mismatch"] is None:
            rec["first_mismatch"] = first
        return rec

    @staticmethod
    def print(r, p) -> None:
        c = r["classify"]
        shape = (f"{c['windows']} x {c['window_steps']} steps" if c.get("shortest_window", c["window_steps"]) ==
                 c["window_steps"] else f"{c['windows']} windows of {c['shortest_window']}..{c['window_steps']} steps, "
                 f"{r['steps']} in all")
        p(f"  windows streamed      {shape} ({r['frames_sent']} frames sent: RESET, "
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
        if r["first_mismatch"] and "step" in r["first_mismatch"] and "decision" not in r["first_mismatch"]:
            f = r["first_mismatch"]
            p(f"  per-step outputs      mismatch at sequence {f['sequence']}, step {f['step']}: expected {f['expected']}, "
              f"got {f['got']}")
        if c["window_step_mismatches"]:
            p(f"  window steps          {c['window_step_mismatches']} windows report another step count than "
              f"{c['window_steps']}")
        for e in r.get("state_losses", []):
            p(f"  device state lost     at window {e['sequence']}, step {e['step']} ({e['what']}); that window ran "
              f"again from h = 0 and is counted from the re-run")
        same = "= golden model" if c["accuracy"] == c["golden_accuracy"] else \
            f"golden model {100 * c['golden_accuracy']:.1f}%"
        p(f"  accuracy              {100 * c['accuracy']:.1f}% on the device ({c['correct']} of {c['windows']}; {same}); "
          f"float ternary {100 * c['float_ternary_accuracy']:.1f}%")
        if r.get("verdict"):
            p(f"  verdict               the model is {r['verdict']} (test accuracy, same windows)")
        p("  per-class recall      " + ", ".join(
            f"{name} {('%.1f%%' % (100 * a / n)) if n else 'n/a'} ({a}/{n})" for name, (a, n) in zip(c["classes"], c["recall"])))
        w = max(max(len(n) for n in c["classes"]), 4)
        p("  confusion matrix      rows: true class, columns: the device's class")
        p(" " * 24 + " " * (w + 1) + " ".join(f"{n:>{w}s}" for n in c["classes"]))
        for name, row in zip(c["classes"], c["confusion"]):
            p(" " * 24 + f"{name:>{w}s} " + " ".join(f"{v:>{w}d}" for v in row))
        st = r.get("stream")
        if st:
            ClassifierVerify.print_stream(st, c, p)
        b = r["bench"]
        if c["per_window"] is None:
            p(f"  per window            n/a ({b['how']})")
        elif c["per_window_unit"] == "instructions":
            p(f"  instructions/window   {c['per_window']:.0f}  ({c['window_steps']} steps and the logits; {b['how']})")
        else:
            p(f"  time/window           {c['per_window'] / 1e3:.1f} us  ({b['how']})")
        print_footprint_and_wall(p, r, percent=False)

    @staticmethod
    def print_stream(st, c, p) -> None:
        p(f"  stream                {st['steps']} steps of the {st['cases']} windows end to end, one RESET, a DECIDE "
          f"every {st['every']} steps: {st['decisions']} decisions")
        if st["logit_mismatches"] == 0:
            p(f"    logits              0 mismatches of {st['logits']} (bit-exact with the golden model, state carried "
              f"across decisions); classes {st['class_mismatches']} mismatches")
        else:
            f = st["first_logit_mismatch"]
            p(f"    logits              {st['logit_mismatches']} mismatches of {st['logits']}; first: decision "
              f"{f['decision']} (step {f['step']}), class {f['class']}: expected {f['expected']}, got {f['got']}")
        if st["step_mismatches"]:
            p(f"    window steps        {st['step_mismatches']} decisions report another step count than {st['every']}")
        if st["accuracy"] is not None:
            p(f"    accuracy            {100 * st['accuracy']:.1f}% of the decisions name the case they end in "
              f"(each window from RESET: {100 * c['accuracy']:.1f}%)")
        if st["latency_median"] is not None:
            p(f"    detection latency   median {st['latency_median']:.0f}, min {st['latency_min']}, max "
              f"{st['latency_max']} steps from a case's first step to the first decision naming it; "
              f"{st['cases_never_named']} of {st['cases']} cases never named")
        else:
            p(f"    detection latency   n/a: none of the {st['cases']} cases was named by a decision inside it")

    @staticmethod
    def pass_words(reports, ref) -> str:
        accs = sorted({f"{100 * r['classify']['accuracy']:.1f}%" for r in reports})
        words = f" and their {ref.x.shape[0]} windows' logits; on-device accuracy {', '.join(accs)}"
        st = ref.stream_expected
        if st is not None:
            sa = sorted({f"{100 * r['stream']['accuracy']:.1f}%" for r in reports if r['stream']['accuracy'] is not None})
            words += (f"; as one stream, {len(st['class'])} decisions every {st['every']} steps"
                      + (f", accuracy {', '.join(sa)}" if sa else ""))
        return words


HOST_HEADS = {"readout": ReadoutVerify, "classifier": ClassifierVerify}


def print_target(r: dict, out=None) -> None:
    """A target's block of the verify report (its record from host.verify.summarise)."""
    out = out or sys.stdout
    p = lambda s: print(s, file=out)  # noqa: E731
    print_heading(p, r)
    HOST_HEADS[r["head"]].print(r, p)
    out.flush()
