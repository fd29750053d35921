"""peers.md: the TFLM peer beside trixcfc's frontier (trainer/experiments/peers.py makes the record).
The figures are the frontier's (frontier_report.SCORES by the head: a forecaster's test washout
MSE, a classifier's test accuracy)."""
from __future__ import annotations

from .frontier_report import SCORES, verdict


def _n(v: int) -> str:
    return f"{v:,}"


def _verdict(sc, c: float, p: float) -> str:
    return verdict(sc.contrast_better(c), p, "trixcfc better", "TFLM better")


def _score(out):
    return SCORES[out.get("head", "readout")]


def markdown(out: dict) -> str:
    sc = _score(out)
    v = out["versions"]
    key, ck = sc.summary_key, sc.contrast_key
    per, what = sc.contrast_words, out["readout_words"]
    lines = [
        f"# trixcfc against TFLM: `{out['label']}`", "",
        f"Regenerate: `python -m trainer peers {out['dir']}` (benchmark only: needs "
        f"`pip install tensorflow=={v['tensorflow']} tflite-micro`). Every number: `peers.json`. Ran with "
        f"tensorflow {v['tensorflow']}, keras {v['keras']}, tflite-micro {v['tflite-micro']}, numpy {v['numpy']}.", "",
        f"The peer is what a user would deploy instead: a Keras GRU with {what}, of the widest width "
        f"whose int8 weights fit in the bytes of each ternary point of the frontier (`{out['frontier']}`), "
        f"trained in float on the same splits ({out['seeds']} seeds, {out['epochs']} epochs, Adam, the best "
        f"validation epoch kept), converted to a fully int8 TFLite model of one cell step (post-training "
        f"quantization calibrated on training states) and run step by step in the TFLM interpreter, the state "
        f"carried between steps. \"TFLM 2-bit\": the same GRU with each weight row clustered to 4 values, "
        f"fine-tuned {out['finetune_epochs']} epochs with the clusters held, converted the same way and "
        f"compressed with TFLM's LUT compression (2-bit indices, DECODE operators). {sc.title[0].upper()}"
        f"{sc.title[1:]}{_units(out)}: {sc.center_words[:-1]} over the seeds. Flatbuffer: the model file TFLM reads from "
        f"flash (its interpreter's code comes on top and is not measured here). Arena: the smallest tensor "
        f"arena with which TFLM allocates and runs the model (searched to 16 bytes; the interpreter object and "
        f"the stack come on top). trixcfc's flash and RAM are those of its whole firmware (runtime, model, "
        f"serial protocol, stack) from the frontier.", "",
        "## The peer", "",
        f"| GRU H | weights (int8 bytes) | float | TFLM int8 | flatbuffer | arena | TFLM 2-bit | flatbuffer | arena |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in out["rows"]:
        lines.append(f"| {r['gru_H']} | {_n(r['gru_weights'])} | {sc.figure(r[f'gru_float_{key}'])} | "
                     f"{sc.figure(r[f'gru_int8_{key}'])} | {_n(r['gru_int8_flatbuffer'])} | "
                     f"{_n(r['gru_int8_arena'])} | {sc.figure(r[f'gru_lut2_{key}'])} | "
                     f"{_n(r['gru_lut2_flatbuffer'])} | {_n(r['gru_lut2_arena'])} |")
    lines += ["", "## At equal weight bytes", "",
              f"trixcfc's ternary student against the TFLM int8 GRU of at most its weight bytes: {per} over the "
              "seeds (the two families' seeds are not paired).", "",
              f"| ternary H (bytes) | ternary | GRU H (bytes) | TFLM int8 | {ck} | p | verdict | "
              f"vs TFLM 2-bit: {ck} | p | vs the float GRU: {ck} | p |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in out["rows"]:
        lines.append(f"| {r['ternary_H']} ({_n(r['ternary_bytes'])}) | {sc.figure(r[f'ternary_{key}'])} | "
                     f"{r['gru_H']} ({_n(r['gru_weights'])}) | {sc.figure(r[f'gru_int8_{key}'])} | "
                     f"{sc.contrast_text(r[f'{ck}_int8'])} | {r['p_int8']:.2g} | "
                     f"{_verdict(sc, r[f'{ck}_int8'], r['p_int8'])} | {sc.contrast_text(r[f'{ck}_lut2'])} | "
                     f"{r['p_lut2']:.2g} | {sc.contrast_text(r[f'{ck}_float'])} | {r['p_float']:.2g} |")
    targets = sorted({t for r in out["rows"] for t in r["targets"]})
    if targets:
        lines += ["", "## Memory", "",
                  "Per ternary point, trixcfc's kernel with the least RAM on each target (flash / RAM of the "
                  "whole firmware) beside the TFLM int8 model's flatbuffer and arena alone.", "",
                  "| ternary H | " + " | ".join(f"{t}: kernel, flash / RAM" for t in targets)
                  + " | TFLM flatbuffer / arena | RAM: trixcfc firmware vs TFLM arena |",
                  "|---|" + "---|" * len(targets) + "---|---|"]
        for r in out["rows"]:
            cells, rams = [], []
            for t in targets:
                k, m = least_ram(r["targets"][t])
                cells.append(f"{k}, {_n(m['flash'])} / {_n(m['ram'])}")
                rams.append(m["ram"])
            arena = r["gru_int8_arena"]
            lines.append(f"| {r['ternary_H']} | " + " | ".join(cells)
                         + f" | {_n(r['gru_int8_flatbuffer'])} / {_n(arena)} | "
                         + f"{_n(max(rams))} vs {_n(arena)}: " + ("trixcfc less" if max(rams) < arena else
                                                                   "TFLM less") + " |")
    lines += ["", "In words: " + in_words(out), ""]
    return "\n".join(lines)


def _units(out) -> str:
    """A series' MSE is in scaled units, as the frontier's."""
    d = out.get("data")
    return f" (scaled units; x {d['target_scale'] ** 2:.4g} for {d['target']} units²)" if d else ""


def least_ram(kernels: dict):
    """(kernel, its measures) of the kernel with the least RAM (then the fewest instructions)."""
    return min(kernels.items(), key=lambda km: (km[1]["ram"], km[1]["per_step"]))


def in_words(out: dict) -> str:
    sc = _score(out)
    ck = sc.contrast_key
    parts = []
    for r in out["rows"]:
        c = r[f"{ck}_int8"]
        parts.append(f"at {r['ternary_bytes']:,} B the ternary student is {sc.contrast_phrase(c, 'the TFLM int8 GRU')} "
                     f"({_verdict(sc, c, r['p_int8'])}, p {r['p_int8']:.2g})")
    return "; ".join(parts) + "."
