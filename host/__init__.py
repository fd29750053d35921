"""trixcfc host: build the firmware, run it under QEMU (or talk to a board), stream the test set
through the serial protocol and check it bit for bit against the golden model.

Importing the package (or host.protocol / host.errors) has no side effects and needs no
pyserial; the transport imports it when a link is opened."""
from .errors import HostError

__all__ = ["HostError"]
