"""The one domain error of codegen.

Every problem with user input (a bad artifact, a bad identifier, a model outside the
fixed-point ranges) is raised as CodegenError with a one-line message; the CLI turns it
into a single ``error: ...`` line and a non-zero exit status.
"""


class CodegenError(Exception):
    """A problem with the input to codegen, described in one line."""
