"""The trainer: float CfC teachers, ternary students, the factorial and the sweeps.

Importing it pins numpy's and OpenBLAS's CPU dispatch (cfcbase.numerics) before anything
imports numpy, so that `python -m trainer` and every worker process it starts compute the
same bits on any x86-64-v3 CPU.
"""
from cfcbase import numerics as _numerics

_numerics.pin()
