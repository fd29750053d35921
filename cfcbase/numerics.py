"""The same floating-point bits on every x86-64 CPU at or above the project's required level.

numpy picks its SIMD loops by what the CPU offers (AVX-512 versions of exp, log, tanh, ... on
CPUs that have it) and OpenBLAS picks its matrix kernels the same way (SkylakeX kernels with
AVX-512, Haswell kernels with AVX2 + FMA). The loops agree to the last bit or two, not exactly,
and a training run amplifies the last bit into another model. So every process that trains
pins both, before numpy is imported:

    NPY_DISABLE_CPU_FEATURES = "X86_V4 AVX512_ICL AVX512_SPR"   numpy: no AVX-512 loops
    OPENBLAS_CORETYPE        = "Haswell"                        OpenBLAS: the AVX2 + FMA kernels
    MKL_CBWR                 = "AVX2"                           (a numpy built on MKL instead)

which makes every CPU with at least x86-64-v3 (AVX2, FMA, BMI2: Intel Haswell 2013 and later,
AMD Zen and later) compute like one such CPU. A variable the user has set already is left
as it is and reported. On a CPU below that level (no AVX2 or FMA) OpenBLAS cannot run the
Haswell kernels: nothing is pinned there and the report says the numbers may differ. On
other architectures (aarch64) nothing is pinned: results are deterministic on one machine,
but not equal to those of x86-64.

`pin()` runs when the trainer package is imported (trainer/__init__.py) and in the test
suite's conftest; spawned worker processes inherit the environment, Ray workers get it
through their runtime environment (PIN_VARS). `status()` reads back what is in effect.
"""
from __future__ import annotations

import ctypes
import os
import platform
import sys

REQUIRED_LEVEL = "x86-64-v3"
PIN = {"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
       "OPENBLAS_CORETYPE": "Haswell",
       "MKL_CBWR": "AVX2"}
PIN_VARS = tuple(PIN)
# the BLAS / OpenMP thread variables: one thread each in the trainer, its workers and Ray tasks (at
# these sizes more threads only wait: identical results, 5-10x slower), unless the user set them
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
               "NUMEXPR_NUM_THREADS")
THREAD_ENV = {k: "1" for k in THREAD_VARS}
MARK = "TRIXCFC_PINNED"              # which of them trixcfc set (so a child process can tell)
_V3_FLAGS = ("avx2", "fma", "bmi2")          # /proc/cpuinfo flags the Haswell kernels need

_record: dict = {}


def _cpu_flags() -> set | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def cpu_level() -> str:
    """'x86-64-v3' when this x86-64 CPU has what the pinned kernels need, else why not."""
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64"):
        return f"{machine} (not x86-64)"
    flags = _cpu_flags()
    if flags is None:
        return "x86-64 (CPU flags unknown)"
    missing = [f for f in _V3_FLAGS if f not in flags]
    return REQUIRED_LEVEL if not missing else f"x86-64 below v3 (no {', '.join(missing)})"


def _sources(env) -> dict:
    """{variable: "trixcfc" | "user" | "not set"} as ``env`` stands."""
    ours = set(filter(None, env.get(MARK, "").split(",")))
    return {k: ("trixcfc" if k in ours and env.get(k) == v else "user" if env.get(k, "") != "" else "not set")
            for k, v in PIN.items()}


def pin(environ=None) -> dict:
    """Set the pinning variables that are unset, where this CPU can run them. Effective only
    before numpy is first imported in this process. Returns {variable: "trixcfc" | "user" |
    "not set"}; idempotent, and a child process started with this environment reports the
    variables as set by trixcfc."""
    env = os.environ if environ is None else environ
    source = _sources(env)
    if cpu_level() == REQUIRED_LEVEL:
        for k, v in PIN.items():
            if source[k] == "not set":
                env[k] = v
                source[k] = "trixcfc"
    env[MARK] = ",".join(k for k in PIN if source[k] == "trixcfc")
    if environ is None:
        _record.setdefault("numpy_was_loaded", "numpy" in sys.modules)
    return source


def single_thread(environ=None) -> None:
    """One BLAS / OpenMP thread (THREAD_ENV) where the user set none; effective only before numpy is
    first imported in this process (and in every process started with this environment)."""
    env = os.environ if environ is None else environ
    for k, v in THREAD_ENV.items():
        env.setdefault(k, v)


def _openblas_core() -> str | None:
    """OpenBLAS's kernel set in this process (numpy's bundled scipy-openblas), or None."""
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({ln.split()[-1] for ln in f if "openblas" in ln.lower() and ln.split()[-1].startswith("/")})
    except OSError:
        return None
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename64_",
                     "openblas_get_corename"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                return fn().decode("ascii", "replace")
    return None


def numpy_avx512_loops(features: dict, dispatch) -> bool:
    """Whether numpy runs AVX-512 loops: one of the AVX-512 targets its loops were built for
    (``dispatch``: X86_V4, AVX512_SKX, AVX512_ICL, ... by numpy version) is enabled in
    ``features``. The raw CPU flags (AVX512F, AVX512BW, ...) stay True in ``features`` when
    NPY_DISABLE_CPU_FEATURES turns the targets off, so they say nothing about the loops."""
    targets = [t for t in dispatch if t == "X86_V4" or t.startswith("AVX512")]
    if not targets:                                     # a numpy that does not list them
        targets = ["X86_V4", "AVX512_SKX", "AVX512F"]
    return any(bool(features.get(t)) for t in targets)


def status() -> dict:
    """What is in effect in this process (imports numpy): the CPU's level, each variable with
    its value and who set it, numpy's AVX-512 state, OpenBLAS's core, and `pinned`: True when
    this process computes as the reference x86-64-v3 machine does."""
    # numpy only here: pin() must run before numpy is first imported, so this module imports it late
    import numpy as np  # noqa: F401 - loads OpenBLAS, whose core is read below
    try:                # numpy's private module of CPU features (numpy 2; numpy < 2 below)
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # numpy < 2
        from numpy.core import _multiarray_umath as umath
    core = _openblas_core()
    avx512 = numpy_avx512_loops(umath.__cpu_features__, getattr(umath, "__cpu_dispatch__", ()))
    source = _sources(os.environ)
    level = cpu_level()
    pinned = level == REQUIRED_LEVEL and not avx512 and core in (None, PIN["OPENBLAS_CORETYPE"])
    return {"required_level": REQUIRED_LEVEL, "cpu_level": level, "pinned": bool(pinned),
            "env": {k: os.environ.get(k) for k in PIN}, "source": source,
            "numpy_avx512": avx512, "openblas_core": core}


def describe(st: dict | None = None) -> str:
    """One line for a log: pinned or not, and why."""
    st = st or status()
    who = ", ".join(f"{k}={st['env'][k]!r} ({st['source'].get(k, '?')})" for k in PIN if st["env"].get(k))
    if st["pinned"]:
        return (f"numerics: pinned to {REQUIRED_LEVEL} (numpy without AVX-512 loops, OpenBLAS core "
                f"{st['openblas_core'] or 'n/a'}; {who}): the same bits as on any {REQUIRED_LEVEL} CPU")
    why = []
    if st["cpu_level"] != REQUIRED_LEVEL:
        why.append(f"this CPU is {st['cpu_level']}")
    if st["numpy_avx512"]:
        why.append("numpy's AVX-512 loops are on")
    if st["openblas_core"] not in (None, PIN["OPENBLAS_CORETYPE"]):
        why.append(f"OpenBLAS runs its {st['openblas_core']} kernels")
    if _record.get("numpy_was_loaded"):
        why.append("numpy was imported before trixcfc could pin it")
    return (f"numerics: NOT pinned to {REQUIRED_LEVEL} ({'; '.join(why) or 'unknown'}"
            f"{'; ' + who if who else ''}): results may differ in the last bits from the committed ones, "
            f"and a training run then from them")


def fingerprint(st: dict | None = None) -> str | None:
    """None on the reference numerics; else a short text naming what computes differently
    (part of a sweep job's cache key, so that numbers made elsewhere are never mixed in)."""
    st = st or status()
    if st["pinned"]:
        return None
    return f"{platform.machine()}|{st['cpu_level']}|avx512={st['numpy_avx512']}|blas={st['openblas_core']}"
