"""A classifier's data for codegen: the golden windows and the export's check of the integer
logits against the float ternary ones (on the validation windows, or synthetic inputs when the
model's files cannot be read)."""
from __future__ import annotations

import numpy as np

from .cliterals import CText, c_comment_text
from .errors import CodegenError


def _windows(art, split, data_path=None):
    from cfcbase.datafile import SeriesError
    from cfcbase.labelled import artifact_windows
    try:
        return artifact_windows(art, split, data_path)
    except (SeriesError, ValueError, KeyError) as e:
        raise CodegenError(f"{art.path}: cannot read the model's {split} windows: {e}") from None


def golden_windows(art, n):
    """The golden vectors' inputs: the first n test windows, or synthetic inputs without the file."""
    from cfcbase.text import PATH_MAX
    from .golden import quantize_input
    from .lossy import synthetic_inputs
    try:
        x, _, _ = _windows(art, "test")
        what = art.task if art.labelled is None else art.labelled["test"]
        return quantize_input(x[:n]), CText(f"the first {min(n, len(x))} test windows of "
                                            f"{c_comment_text(what, f'{art.path}: test', PATH_MAX)}")
    except CodegenError:
        x = synthetic_inputs(art.I, _steps(art), n=n)
        return quantize_input(x), CText("synthetic inputs (the model's test file cannot be read)")


def _steps(art):
    from cfcbase.labelled import WAVES3_STEPS
    from .lossy import SYNTHETIC_STEPS_MAX
    T = art.labelled["seq_len"] if art.labelled is not None else WAVES3_STEPS
    return max(2, min(int(T), SYNTHETIC_STEPS_MAX))


def export_logit_report(art, m, files, data_path, allow_lossy):
    """codegen.export.Exported of a classifier: the logit check on its validation windows (a
    labelled model whose files cannot be read: synthetic inputs)."""
    from .classify import check_logits, logit_report
    from .export import Exported
    from .lossy import synthetic_inputs
    from cfcbase.series import RANGE_FILL
    try:
        x, _, _ = _windows(art, "val", data_path)
        where, note = "the validation windows", ""
    except CodegenError as e:
        if art.labelled is None:
            raise
        x = synthetic_inputs(art.I, _steps(art))
        where, note = "synthetic inputs", (f"smooth random sequences in [-{RANGE_FILL:g}, {RANGE_FILL:g}], the scaled "
                                           f"range of the training cases, instead of the validation windows: {e}")
    report = logit_report(art, m, np.asarray(x, np.float64))
    check_logits(report, art.path, where, allow_lossy)
    return Exported(art, m, files, report, where, note)


def accuracy_line(art, path) -> tuple:
    """What `python -m codegen accuracy` prints for a classifier: the test accuracy of the float
    ternary and of the golden integer model, and their relative difference in error rate."""
    from .classify import float_ternary_logits, run_golden_logits
    from .golden import IntModel, quantize_input
    x, y, src = _windows(art, "test")
    _, cls = run_golden_logits(IntModel.from_artifact(art), quantize_input(x))
    af = float(np.mean(np.argmax(float_ternary_logits(art, x), 1) == y))
    ag = float(np.mean(cls == y))
    rel = abs(ag - af) / max(1.0 - af, 1.0 / len(y))
    return (f"{path}: classifier, test windows {src}: accuracy float ternary {100 * af:.2f}%, golden integer "
            f"{100 * ag:.2f}% (error rate relative difference {100 * rel:+.1f}%)"), rel
