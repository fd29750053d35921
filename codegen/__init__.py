"""trixcfc codegen: trained ternary CfC (best.npz) -> integer golden model and C99 headers."""
from .errors import CodegenError
from .golden import IntModel, run_golden, quantize_input, dequantize_output
from .pack import pack_trits, unpack_trits

__all__ = ["CodegenError", "IntModel", "run_golden", "quantize_input", "dequantize_output",
           "pack_trits", "unpack_trits"]
