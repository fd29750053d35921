"""The trainer: float CfC teachers, ternary (and int8) students, the factorial and the sweeps.

    trainer.model        the cell and its training: BPTT, the heads' losses, the quantizers,
                         teachers, students, the coordinate search, the gradient check
    trainer.experiments  what runs many trainings: the factorial, the sweep, the frontier, the
                         worked examples, the speed benchmark
    trainer.reports      what is written about them: factorial.md, frontier.md, docs/results.md
    trainer.cli          `python -m trainer`

Importing it pins numpy's and OpenBLAS's CPU dispatch and their threads (cfcbase.numerics) before
anything imports numpy, so that `python -m trainer` and every worker process it starts compute the
same bits on any x86-64-v3 CPU, one BLAS thread each (a user's own settings are kept).
"""
from cfcbase import numerics as _numerics

_numerics.pin()
_numerics.single_thread()
