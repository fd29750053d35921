"""The cell and its training (docs/training.md): BPTT through the CfC cell (cell), the heads'
losses (heads), parameters and Adam (params, optim), the quantizers (quant, int8), teachers and
students for every head through one path (train), the coordinate search (search) and the
finite-difference gradient check (gradcheck)."""
