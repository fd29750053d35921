"""cfcbase: what the trainer, codegen and host share, below all three of them.

    cfcbase.artifact   the trained model (best.npz): schema, load/validate, the one writer
    cfcbase.tasks      the pinned tasks, WASHOUT and the washout MSE, the baselines
    cfcbase.cell       the float reference of the ternary cell (lam, activations, predict)
    cfcbase.fileio     atomic file output and byte-stable npz archives
    cfcbase.errors     ArtifactError, the one error of this package

It imports numpy only; nothing here imports trainer, codegen or host.
"""
