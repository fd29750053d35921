"""The one domain error of the trainer.

Every problem with user input or with a run (unknown task, bad sizes, unwritable output
directory, divergence to NaN, failed gradient check) is raised as TrainerError with a
one-line message; the CLI prints it as ``error: ...`` and exits non-zero.
"""


class TrainerError(Exception):
    """A problem with the trainer's input or run, described in one line."""
