"""Serial protocol v2, host side (docs/protocol.md): CRC-16/CCITT-FALSE, COBS, frame encode /
decode, request building, reply parsing and an incremental frame reader.

Pure Python + the standard library: importing this module opens nothing and needs no pyserial,
so tests (and the firmware's robustness test) can use it on their own.

The reader tells three failure kinds apart (all subclasses of host.errors.HostError):
  NoReply         timeout, and nothing arrived since the last complete frame
  TruncatedFrame  timeout after part of a frame arrived (its 0x00 never came)
  BadFrame        a complete frame that is not valid: BadCobs, BadCrc, BadFrameLength (< 4 or
                  > MAX_PAYLOAD + 4 decoded bytes)
  Unframed        more than MAX_WIRE bytes without a 0x00 (raised as soon as they arrive)
and LinkClosed when the other end went away, FirmwareExited (a LinkClosed) as soon as the
firmware's exit marker arrives (EXIT_MARKER: a Cortex-M program ended or faulted).
"""
from __future__ import annotations

import re
import struct
import time
from dataclasses import dataclass
from typing import NamedTuple

from .errors import (BadCobs, BadCrc, DeviceError, BadFrameLength, FirmwareExited, LinkClosed, NoReply,
                     ProtocolError, TruncatedFrame, Unframed)

PROTO_VERSION = 3
MAX_PAYLOAD = 512
MAX_FRAME = MAX_PAYLOAD + 4          # type, seq, payload, crc16 (decoded)
# The longest legal frame on the wire before its 0x00: COBS adds one code byte per 254 data
# bytes and one more. The reader gives up on a peer once this many bytes came without a 0x00.
MAX_WIRE = MAX_FRAME + MAX_FRAME // 254 + 1
MAX_STEPS = 64
MAX_BENCH = 4096
Q_FORMAT = 14
MAX_CLASSES = 32                     # logits in one LOGITS reply
LOGIT_FRAC = 16                      # the logits are int32 Q16

HELLO, RESET, STEP, BENCH, LOGITS, DECIDE = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
REPLY_FLAG = 0x80
ERROR = 0x7F
REQUEST_NAMES = {HELLO: "HELLO", RESET: "RESET", STEP: "STEP", BENCH: "BENCH", LOGITS: "LOGITS", DECIDE: "DECIDE"}

ERROR_NAMES = {1: "BAD_CRC", 2: "BAD_COBS", 3: "TOO_SHORT", 4: "OVERSIZE", 5: "UNKNOWN_TYPE",
               6: "BAD_LENGTH", 7: "NO_CLASSES"}


# The line every Cortex-M program ends with (firmware/platform/cortex-m/startup.c, trix_exit):
# "\r\n*** trixcfc: exit <code>\r\n", code in decimal (main's return value; 125 after a
# HardFault report, 126 after an unexpected exception). host/qemu_run.py exits with the code; the
# frame reader stops a session at it. It is the only way an exit status leaves the guest: QEMU
# is never started with semihosting (docs/firmware.md).
EXIT_MARKER = re.compile(rb"\*\*\* trixcfc: exit (-?[0-9]{1,10})\r?\n")


def find_exit(data: bytes, start: int = 0):
    """(code, end offset) of the first exit marker in data[start:], or None."""
    m = EXIT_MARKER.search(data, start)
    return (int(m[1]), m.end()) if m else None


def quote_before(data: bytes, end: int, limit: int = 300) -> str:
    """The printable text that ends at data[end] (what a firmware printed before and with its
    exit marker, without the binary bytes of any frame before it)."""
    i = end
    while i > 0 and (32 <= data[i - 1] < 127 or data[i - 1] in (9, 10, 13)):
        i -= 1
    return data[i:end].decode("ascii").strip()[-limit:]


# ---- CRC and COBS ---------------------------------------------------------------------------

def _crc_table() -> tuple:
    table = []
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        table.append(c & 0xFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor."""
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing (no 0x00 in the output; delimiter not added)."""
    out = bytearray()
    block = bytearray()
    for b in data:
        if b == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(0xFF)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(enc: bytes) -> bytes:
    """Inverse of cobs_encode; BadCobs on an invalid encoding (0x00 inside, block past the end)."""
    out = bytearray()
    i, n = 0, len(enc)
    if n == 0:
        raise BadCobs("empty COBS block", enc)
    while i < n:
        code = enc[i]
        if code == 0:
            raise BadCobs(f"0x00 inside a COBS frame at byte {i}", enc)
        end = i + code
        if end > n:
            raise BadCobs(f"COBS block at byte {i} runs {end - n} bytes past the frame end", enc)
        block = enc[i + 1:end]
        if 0 in block:
            raise BadCobs("0x00 inside a COBS frame", enc)
        out += block
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


# ---- frames ---------------------------------------------------------------------------------

def encode_frame(ftype: int, seq: int, payload: bytes = b"") -> bytes:
    """The wire bytes of one frame: COBS(type | seq | payload | crc_lo | crc_hi) 0x00."""
    if not 0 <= ftype <= 0xFF or not 0 <= seq <= 0xFF:
        raise ValueError("type and seq are bytes")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes > MAX_PAYLOAD {MAX_PAYLOAD}")
    body = bytes([ftype, seq]) + bytes(payload)
    return cobs_encode(body + struct.pack("<H", crc16(body))) + b"\x00"


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes


def decode_frame(enc: bytes) -> Frame:
    """Decode the bytes of one frame (without its 0x00). BadCobs / BadFrameLength / BadCrc."""
    raw = cobs_decode(enc)
    if len(raw) < 4:
        raise BadFrameLength(f"frame of {len(raw)} decoded bytes (< 4: type, seq, crc16)", enc)
    if len(raw) > MAX_FRAME:
        raise BadFrameLength(f"frame of {len(raw)} decoded bytes (> {MAX_FRAME})", enc)
    body, (crc,) = raw[:-2], struct.unpack("<H", raw[-2:])
    want = crc16(body)
    if crc != want:
        raise BadCrc(f"CRC mismatch (frame says 0x{crc:04x}, bytes give 0x{want:04x})", enc)
    return Frame(body[0], body[1], bytes(body[2:]))


class FrameReader:
    """Reads frames off a byte source.

    `read(n)` must return up to n bytes, or b"" after a short wait when nothing is there (a
    pyserial port with a small `timeout`, or any object that behaves so); it may raise
    LinkClosed. `alive()`, when given, is called on every empty read and may raise LinkClosed
    (e.g. the QEMU process exited). Bytes after a frame's delimiter are kept for the next call.
    """

    def __init__(self, read, alive=None, chunk: int = 4096):
        self._read = read
        self._alive = alive
        self._chunk = chunk
        self._buf = bytearray()

    @property
    def pending(self) -> bytes:
        return bytes(self._buf)

    def discard(self) -> None:
        self._buf.clear()

    def read_frame(self, timeout: float) -> Frame:
        """The next non-empty frame within `timeout` seconds (empty frames are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            i = self._buf.find(0)
            while i == 0:                    # empty frames: ignored (docs/protocol.md)
                del self._buf[0]
                i = self._buf.find(0)
            ex = find_exit(self._buf)
            if ex is not None and (i < 0 or ex[1] <= i):
                self._exited(*ex)
            if i > 0:
                enc = bytes(self._buf[:i])
                del self._buf[:i + 1]
                return decode_frame(enc)
            if len(self._buf) > MAX_WIRE:
                note = self._text_note()
                n = len(self._buf)
                self._buf.clear()
                raise Unframed(f"the peer sent {n} bytes without a 0x00 frame delimiter, more than the largest "
                               f"legal reply ({MAX_WIRE} bytes): it does not speak this protocol (a console, "
                               f"another program, the wrong baud rate?){note}", b"")
            if time.monotonic() >= deadline:
                if self._buf:
                    raise TruncatedFrame(
                        f"the reply stopped mid-frame: {len(self._buf)} bytes and no 0x00 delimiter "
                        f"within {timeout:g} s{self._text_note()}", self._buf)
                raise NoReply(f"no reply within {timeout:g} s")
            try:
                data = self._read(self._chunk)
                if not data and self._alive is not None:
                    self._alive()
            except LinkClosed as e:
                note = self._text_note()
                if note:
                    raise LinkClosed(f"{e}{note}") from e
                raise
            if data:
                self._buf += data

    def _exited(self, code: int, end: int):
        text = quote_before(bytes(self._buf), end)
        self._buf.clear()
        raise FirmwareExited(f"the firmware exited with status {code} (it printed: {text!r})", code)

    def _text_note(self) -> str:
        """When the unframed bytes are text (e.g. the Cortex-M fault report
        `*** trixcfc: HardFault pc=...`), they say more than any error of ours."""
        text = printable_text(bytes(self._buf))
        return f"; the firmware printed: {text!r}" if text else ""


def printable_text(data: bytes, limit: int = 300) -> str:
    """data as a string when it is mostly printable ASCII text, else ''."""
    if len(data) < 4:
        return ""
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in data)
    if printable < 0.9 * len(data):
        return ""
    return data.decode("ascii", "replace").strip()[-limit:]


# ---- requests and replies -------------------------------------------------------------------

def bench_payload(n: int) -> bytes:
    if not 1 <= n <= MAX_BENCH:
        raise ValueError(f"BENCH n={n} outside 1..{MAX_BENCH}")
    return struct.pack("<H", n)


@dataclass(frozen=True)
class Hello:
    proto_version: int
    inputs: int
    hidden: int
    q_format: int
    max_steps: int
    model_hash: int
    target: str
    kernel: str

    @property
    def hash_hex(self) -> str:
        return f"{self.model_hash:016x}"


def check_version(p: bytes) -> None:
    """The HELLO reply's first byte is the protocol version in every version: a peer on another
    one is refused here, before its layout is read."""
    if p and p[0] != PROTO_VERSION:
        raise ProtocolError(f"the firmware speaks protocol version {p[0]}; this host speaks {PROTO_VERSION}: rebuild "
                            f"and flash the firmware from this checkout (`python -m host verify --qemu` builds it)")


def parse_hello(p: bytes) -> Hello:
    if len(p) < 16:
        raise ProtocolError(f"HELLO reply of {len(p)} bytes (< 16)")
    ver, i, h, q, ms, mh = struct.unpack_from("<BBHBHQ", p, 0)
    off = 15
    tl = p[off]
    target = p[off + 1:off + 1 + tl]
    off += 1 + tl
    if len(target) != tl or off >= len(p):
        raise ProtocolError("HELLO reply: target string runs past the payload")
    kl = p[off]
    kernel = p[off + 1:off + 1 + kl]
    if len(kernel) != kl or off + 1 + kl != len(p):
        raise ProtocolError("HELLO reply: kernel string does not end the payload")
    return Hello(ver, i, h, q, ms, mh, target.decode("ascii", "replace"), kernel.decode("ascii", "replace"))


def parse_step(p: bytes, n: int) -> list:
    if len(p) != 2 * n:
        raise ProtocolError(f"STEP reply of {len(p)} bytes for {n} steps (expected {2 * n})")
    return list(struct.unpack(f"<{n}h", p))


class Bench(NamedTuple):
    """The BENCH reply: three u32, the tick count of n steps and the ticks per second."""
    ticks: int
    tick_hz: int
    n: int


def parse_bench(p: bytes) -> Bench:
    if len(p) != 12:
        raise ProtocolError(f"BENCH reply of {len(p)} bytes (expected 12)")
    return Bench(*struct.unpack("<III", p))


class Logits(NamedTuple):
    """The LOGITS (and DECIDE) reply: the window's step count, its class (argmax) and K int32 logits (Q16)."""
    steps: int
    cls: int
    logits: tuple


def parse_logits(p: bytes) -> Logits:
    if len(p) < 4:
        raise ProtocolError(f"LOGITS reply of {len(p)} bytes (< 4)")
    steps, K, cls = struct.unpack_from("<HBB", p, 0)
    if not 1 <= K <= MAX_CLASSES or len(p) != 4 + 4 * K:
        raise ProtocolError(f"LOGITS reply of {len(p)} bytes for K = {K} classes (expected {4 + 4 * K})")
    if cls >= K:
        raise ProtocolError(f"LOGITS reply: class {cls} of K = {K}")
    return Logits(steps, cls, struct.unpack_from(f"<{K}i", p, 4))


def error_from_reply(frame: Frame, request_type: int) -> DeviceError:
    code, req = (frame.payload + b"\x00\x00")[:2]
    name = ERROR_NAMES.get(code, f"code {code}")
    what = REQUEST_NAMES.get(request_type, f"0x{request_type:02x}")
    return DeviceError(f"the firmware answered {what} with error {name} (request type 0x{req:02x})",
                       code, req)


def check_reply(frame: Frame, request_type: int, seq: int) -> bytes:
    """The payload of the reply to (request_type, seq); DeviceError / ProtocolError otherwise."""
    if frame.type == ERROR:
        raise error_from_reply(frame, request_type)
    if frame.type != request_type | REPLY_FLAG:
        raise ProtocolError(f"expected reply type 0x{request_type | REPLY_FLAG:02x}, got 0x{frame.type:02x}")
    if frame.seq != seq:
        raise ProtocolError(f"reply seq {frame.seq} for request seq {seq} (out of step with the firmware)")
    return frame.payload


