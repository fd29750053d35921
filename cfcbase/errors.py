"""The one domain error of cfcbase."""


class ArtifactError(Exception):
    """A bad best.npz, described in one line that names the file and the key."""
