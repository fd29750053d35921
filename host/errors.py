"""The host's domain errors: one base class, so the CLI turns every one of them into a single
actionable `error: ...` line (host/cli.py). Pure Python, no imports with side effects."""
from __future__ import annotations


class HostError(Exception):
    """Anything the host reports to the user as `error: <message>` (exit status 2, or 1 for a
    verification failure)."""

    exit_code = 2


# ---- link / framing (raised by host.protocol.FrameReader) ----------------------------------

class LinkError(HostError):
    """Base of every failure to get a well-formed reply frame off the link."""


class NoReply(LinkError):
    """Timeout and nothing at all arrived since the last complete frame."""


class TruncatedFrame(LinkError):
    """Timeout after some bytes of a frame arrived, but never its 0x00 delimiter."""

    def __init__(self, message: str, partial: bytes = b""):
        super().__init__(message)
        self.partial = bytes(partial)


class Unframed(LinkError):
    """More bytes arrived without a 0x00 delimiter than the largest legal reply has: the peer
    does not speak the protocol (or the link is noise). Raised at once, not at the timeout."""

    def __init__(self, message: str, partial: bytes = b""):
        super().__init__(message)
        self.partial = bytes(partial)


class BadFrame(LinkError):
    """A complete frame (ended by 0x00) that is not valid: bad COBS, bad CRC or too short."""

    def __init__(self, message: str, raw: bytes = b""):
        super().__init__(message)
        self.raw = bytes(raw)


class BadCobs(BadFrame):
    pass


class BadCrc(BadFrame):
    pass


class BadFrameLength(BadFrame):
    pass


class LinkClosed(LinkError):
    """The other end went away (socket closed, process exited, device unplugged)."""


class FirmwareExited(LinkClosed):
    """The firmware printed the exit marker `*** trixcfc: exit <code>` (its program ended, or a
    fault handler ran: 125 HardFault, 126 another exception) and then reset; nothing it sent
    after that belongs to the session. Raised as soon as the marker arrives."""

    def __init__(self, message: str, code: int = 0):
        super().__init__(message)
        self.code = code


# ---- request/reply level -------------------------------------------------------------------

class ProtocolError(HostError):
    """A valid frame with the wrong contents: unexpected type, seq or payload length."""


class DeviceError(ProtocolError):
    """The firmware answered with an error reply (type 0x7F)."""

    def __init__(self, message: str, code: int = 0, request_type: int = 0):
        super().__init__(message)
        self.code = code
        self.request_type = request_type


class StateLost(HostError):
    """The device's state stopped following the host's (a reset mid-sequence, a closed link)
    and the run could not resume; the message names the sequence and step."""


# ---- environment, build, model -------------------------------------------------------------

class SetupError(HostError):
    """A tool (toolchain, emulator, cmake, pyOCD) is missing."""


class BuildError(HostError):
    """CMake configure/build or the header export failed."""


class ModelMismatch(HostError):
    """The firmware runs a different model than the npz (HELLO's hash or shape differ)."""


class VerifyFailed(HostError):
    """Outputs differ from the golden model (reported in full before this is raised)."""

    exit_code = 1
