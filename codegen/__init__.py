"""trixcfc codegen: trained ternary CfC (best.npz) -> integer golden model and C99 headers."""
from .errors import CodegenError
from .artifact import Artifact, load_artifact
from .golden import (IntModel, run_golden, quantize_input, dequantize_output,
                     float_ternary_predict)
from .pack import pack_trits, unpack_trits

__all__ = ["CodegenError", "Artifact", "load_artifact", "IntModel", "run_golden",
           "quantize_input", "dequantize_output", "float_ternary_predict",
           "pack_trits", "unpack_trits"]
