"""host.protocol: CRC/COBS vectors, frame round trips, reply parsing, and the frame reader
telling apart "no data", "stopped mid-frame" and "bad framing", and the protocol's constants
against the firmware's C headers."""
from __future__ import annotations

import random
import re
import struct
from pathlib import Path

import pytest

from host import protocol as P
from host.errors import (BadCobs, BadCrc, BadFrame, BadFrameLength, DeviceError, FirmwareExited, HostError,
                         LinkClosed, LinkError, NoReply, ProtocolError, TruncatedFrame)


def test_crc16_check_value():
    assert P.crc16(b"123456789") == 0x29B1
    assert P.crc16(b"") == 0xFFFF


def bitwise_crc(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def test_crc16_matches_bitwise_definition():
    rng = random.Random(1)
    for n in range(0, 300, 7):
        data = bytes(rng.randrange(256) for _ in range(n))
        assert P.crc16(data) == bitwise_crc(data)


# Vectors of Wikipedia's COBS article, except that after a full 254-byte block this encoder
# (like Cheshire & Baker's original code) opens a new block, so those end in 0x01; the shorter
# form without it decodes to the same bytes (checked below).
COBS_VECTORS = [
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x00\x11\x00", b"\x01\x02\x11\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255)) + b"\x01"),
    (bytes(range(0, 255)), b"\x01\xff" + bytes(range(1, 255)) + b"\x01"),
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
    (bytes(range(2, 256)) + b"\x00", b"\xff" + bytes(range(2, 256)) + b"\x01\x01"),
    (bytes(range(3, 256)) + b"\x00\x01", b"\xfe" + bytes(range(3, 256)) + b"\x02\x01"),
]


@pytest.mark.parametrize("raw,enc", COBS_VECTORS)
def test_cobs_vectors(raw, enc):
    assert P.cobs_encode(raw) == enc
    assert P.cobs_decode(enc) == raw


def test_cobs_decode_accepts_the_short_form_after_a_full_block():
    assert P.cobs_decode(b"\xff" + bytes(range(1, 255))) == bytes(range(1, 255))


def test_cobs_round_trip_random():
    rng = random.Random(2)
    for _ in range(300):
        n = rng.randrange(0, 1200)
        data = bytes(rng.choice([0, 0, rng.randrange(256)]) for _ in range(n))
        enc = P.cobs_encode(data)
        assert 0 not in enc
        assert len(enc) <= n + n // 254 + 1
        assert P.cobs_decode(enc) == data


@pytest.mark.parametrize("bad", [b"", b"\x05\x11\x22", b"\x02\x00", b"\x03\x11\x00\x22"])
def test_cobs_decode_rejects_invalid(bad):
    with pytest.raises(BadCobs):
        P.cobs_decode(bad)


def test_frame_round_trip_and_layout():
    wire = P.encode_frame(P.STEP, 7, b"\x00\x40\x00\xc0")
    assert wire.endswith(b"\x00") and 0 not in wire[:-1]
    raw = P.cobs_decode(wire[:-1])
    assert raw[:2] == b"\x03\x07" and raw[2:6] == b"\x00\x40\x00\xc0"
    assert struct.unpack("<H", raw[-2:])[0] == P.crc16(raw[:-2])
    f = P.decode_frame(wire[:-1])
    assert (f.type, f.seq, f.payload) == (P.STEP, 7, b"\x00\x40\x00\xc0")
    big = bytes(range(256)) * 2
    assert P.decode_frame(P.encode_frame(0x83, 255, big)[:-1]).payload == big
    with pytest.raises(ValueError):
        P.encode_frame(P.STEP, 0, bytes(P.MAX_PAYLOAD + 1))


def test_decode_frame_errors_are_bad_framing():
    body = b"\x83\x01\x10\x00"
    good = P.cobs_encode(body + struct.pack("<H", P.crc16(body)))
    corrupt = P.cobs_encode(body + struct.pack("<H", P.crc16(body) ^ 1))
    with pytest.raises(BadCrc):
        P.decode_frame(corrupt)
    with pytest.raises(BadFrameLength):
        P.decode_frame(P.cobs_encode(b"\x83\x01\x10"))
    with pytest.raises(BadFrameLength):
        P.decode_frame(P.cobs_encode(bytes(P.MAX_FRAME + 1)))
    with pytest.raises(BadCobs):
        P.decode_frame(good[:-1])
    for e in (BadCrc, BadCobs, BadFrameLength):
        assert issubclass(e, BadFrame) and issubclass(e, LinkError) and issubclass(e, HostError)


class FakeLink:
    """A byte source delivering scripted chunks, one per read() call (b"" = nothing yet)."""

    def __init__(self, chunks, closed_after=False):
        self.chunks = list(chunks)
        self.closed_after = closed_after

    def read(self, n):
        if self.chunks:
            c = self.chunks.pop(0)
            assert len(c) <= n
            return c
        if self.closed_after:
            raise LinkClosed("link closed")
        return b""


def reply(t, seq, payload=b""):
    return P.encode_frame(t, seq, payload)


def test_reader_reassembles_split_frames_and_skips_empty_frames():
    wire = b"\x00\x00" + reply(0x83, 1, b"\x01\x00") + reply(0x82, 2)
    chunks = [wire[i:i + 3] for i in range(0, len(wire), 3)]
    r = P.FrameReader(FakeLink(chunks).read)
    f1 = r.read_frame(1.0)
    f2 = r.read_frame(1.0)
    assert (f1.type, f1.seq, f1.payload) == (0x83, 1, b"\x01\x00")
    assert (f2.type, f2.seq, f2.payload) == (0x82, 2, b"")


def test_reader_three_failure_kinds_are_distinct():
    # 1. nothing at all: NoReply
    with pytest.raises(NoReply) as e:
        P.FrameReader(FakeLink([]).read).read_frame(0.05)
    assert "no reply" in str(e.value)
    # 2. part of a frame, then silence: TruncatedFrame (not NoReply)
    part = reply(0x83, 1, b"\x01\x00")[:4]
    with pytest.raises(TruncatedFrame) as e:
        P.FrameReader(FakeLink([part]).read).read_frame(0.05)
    assert e.value.partial == part and "mid-frame" in str(e.value)
    # 3. a complete but corrupt frame: BadFrame, immediately (no timeout needed)
    w = bytearray(reply(0x83, 1, b"\x01\x00"))
    w[2] ^= 0x40
    with pytest.raises(BadFrame):
        P.FrameReader(FakeLink([bytes(w)]).read).read_frame(5.0)
    kinds = {NoReply, TruncatedFrame, BadFrame}
    for a in kinds:
        for b in kinds - {a}:
            assert not issubclass(a, b)


def test_reader_resynchronises_after_garbage():
    garbage = b"\x07\x01\x02"     # claims a 7-byte block: invalid before the 0x00
    r = P.FrameReader(FakeLink([garbage + b"\x00" + reply(0x82, 9)]).read)
    with pytest.raises(BadFrame):
        r.read_frame(1.0)
    f = r.read_frame(1.0)
    assert (f.type, f.seq) == (0x82, 9)


def test_reader_link_closed_and_alive_hook():
    with pytest.raises(LinkClosed):
        P.FrameReader(FakeLink([], closed_after=True).read).read_frame(5.0)

    def dead():
        raise LinkClosed("qemu exited with status -9")
    with pytest.raises(LinkClosed, match="qemu exited"):
        P.FrameReader(FakeLink([]).read, alive=dead).read_frame(5.0)


def test_parse_replies():
    target, kernel = b"cortex-m4", b"dsp"
    p = struct.pack("<BBHBHQ", 1, 1, 16, 14, 64, 0x0123456789ABCDEF) + bytes([len(target)]) + target \
        + bytes([len(kernel)]) + kernel
    h = P.parse_hello(p)
    assert (h.proto_version, h.inputs, h.hidden, h.q_format, h.max_steps) == (1, 1, 16, 14, 64)
    assert h.model_hash == 0x0123456789ABCDEF and h.hash_hex == "0123456789abcdef"
    assert (h.target, h.kernel) == ("cortex-m4", "dsp")
    with pytest.raises(ProtocolError):
        P.parse_hello(p[:-1])
    with pytest.raises(ProtocolError):
        P.parse_hello(p + b"x")
    assert P.parse_step(struct.pack("<3h", -32768, 0, 32767), 3) == [-32768, 0, 32767]
    with pytest.raises(ProtocolError):
        P.parse_step(b"\x00" * 5, 3)
    b = P.parse_bench(struct.pack("<III", 1000, 25_000_000, 100))
    assert (b.ticks, b.tick_hz, b.n) == (1000, 25_000_000, 100)
    assert P.bench_payload(4096) == b"\x00\x10"
    lg = P.parse_logits(struct.pack("<HBB3i", 100, 3, 2, -5, 65536, 70000))
    assert (lg.steps, lg.cls, lg.logits) == (100, 2, (-5, 65536, 70000))
    for bad in (b"\x01\x00\x03", struct.pack("<HBB2i", 1, 3, 0, 1, 2), struct.pack("<HBBi", 1, 1, 1, 5),
                struct.pack("<HBB", 1, 0, 0)):
        with pytest.raises(ProtocolError):
            P.parse_logits(bad)


def test_check_reply():
    assert P.check_reply(P.Frame(0x83, 5, b"ab"), P.STEP, 5) == b"ab"
    with pytest.raises(DeviceError) as e:
        P.check_reply(P.Frame(P.ERROR, 5, bytes([6, 3])), P.STEP, 5)
    assert e.value.code == 6 and "BAD_LENGTH" in str(e.value)
    with pytest.raises(ProtocolError, match="seq"):
        P.check_reply(P.Frame(0x83, 4, b""), P.STEP, 5)
    with pytest.raises(ProtocolError, match="type"):
        P.check_reply(P.Frame(0x82, 5, b""), P.STEP, 5)


def test_import_has_no_pyserial_side_effect():
    import subprocess
    import sys
    code = "import sys, host.protocol, host.errors; assert 'serial' not in sys.modules; print('ok')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=__import__("pathlib").Path(__file__).resolve().parents[1])
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_reader_shows_text_the_firmware_printed():
    """A Cortex-M fault report arrives as text before QEMU exits: the error quotes it."""
    report = b"*** trixcfc: HardFault pc=0x00000123 lr=0xfffffff9 cfsr=0x00000400 bfar=0x00000000\r\n"
    with pytest.raises(LinkClosed, match=r"the firmware printed: '\*\*\* trixcfc: HardFault pc=0x00000123"):
        P.FrameReader(FakeLink([report], closed_after=True).read).read_frame(5.0)
    with pytest.raises(TruncatedFrame, match="HardFault"):
        P.FrameReader(FakeLink([report]).read).read_frame(0.05)
    with pytest.raises(TruncatedFrame) as e:          # binary bytes are not quoted
        P.FrameReader(FakeLink([b"\x05\x83\x01\x02"]).read).read_frame(0.05)
    assert "printed" not in str(e.value)


def test_reader_stops_at_the_exit_marker():
    """The firmware's exit marker (a fault report's end, a program's end) stops the reader at once,
    with the code and the text before it, even when the marker comes in pieces and the firmware
    (reset, running again) goes on talking; a reply before it is still delivered first."""
    fault = (b"\r\n*** trixcfc: HardFault pc=0x00000123 lr=0xfffffff9 cfsr=0x00000400 bfar=0x00000000\r\n"
             b"\r\n*** trixcfc: exit 125\r\n")
    wire = reply(0x83, 1, b"\x01\x00") + b"\x05\x83" + fault + reply(0x81, 0, b"after the reset")
    chunks = [wire[i:i + 7] for i in range(0, len(wire), 7)]
    r = P.FrameReader(FakeLink(chunks).read)
    assert r.read_frame(5.0).seq == 1
    with pytest.raises(FirmwareExited) as e:
        r.read_frame(5.0)                   # no waiting for a timeout: raised when the marker is complete
    assert e.value.code == 125 and isinstance(e.value, LinkClosed)
    assert str(e.value) == ("the firmware exited with status 125 (it printed: '*** trixcfc: HardFault "
                            "pc=0x00000123 lr=0xfffffff9 cfsr=0x00000400 bfar=0x00000000\\r\\n\\r\\n"
                            "*** trixcfc: exit 125')")
    assert P.find_exit(b"x*** trixcfc: exit -1\n") == (-1, 22)
    assert P.find_exit(b"*** trixcfc: exit 12") is None        # not complete before its line end


# ---- the constants, stated in C and in Python: the same values -----------------------------

REPO = Path(__file__).resolve().parents[1]


def c_eval(expr: str, **names) -> int:
    """An integer C constant expression (+, -, *, /, <<, |, parentheses): / divides as C's."""
    return eval(expr.replace("/", "//"), {"__builtins__": {}}, names)  # noqa: S307


def c_constants(*headers) -> dict:
    """NAME -> value of the object-like #defines and the enum members of C headers (values that
    are integers or expressions of earlier ones)."""
    text = "\n".join((REPO / h).read_text() for h in headers)
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    out = {}

    def value(expr):
        expr = re.sub(r"\b(\d+|0x[0-9a-fA-F]+)[uU]?\b", r"\1", expr.strip())
        return c_eval(re.sub(r"\b[A-Z_][A-Z0-9_]*\b", lambda m: str(out[m[0]]), expr))

    for name, expr in re.findall(r"^#define\s+(TRIX_[A-Z0-9_]+)[ \t]+([^\n]+)$", text, re.M):
        if not expr.startswith('"'):
            out[name] = value(expr)
    for body in re.findall(r"enum\s*\{([^}]*)\}", text):
        for name, expr in re.findall(r"(TRIX_[A-Z0-9_]+)\s*=\s*([^,]+)", body):
            out[name] = value(expr)
    return out


def test_the_protocol_constants_are_the_firmwares():
    """Frame types, error codes, version and limits of host/protocol.py are those of
    firmware/app/trix_proto.h, and the Q14 of the I/O is firmware/core/trix_cfc.h's."""
    from codegen.golden import IO_FRAC, Q14_ONE
    c = c_constants("firmware/app/trix_proto.h", "firmware/core/trix_cfc.h")
    assert (c["TRIX_PROTO_VERSION"], c["TRIX_MAX_PAYLOAD"], c["TRIX_MAX_FRAME"], c["TRIX_MAX_STEPS"],
            c["TRIX_MAX_BENCH"], c["TRIX_Q_FORMAT"]) == (P.PROTO_VERSION, P.MAX_PAYLOAD, P.MAX_FRAME, P.MAX_STEPS,
                                                        P.MAX_BENCH, P.Q_FORMAT)
    assert {n: c[f"TRIX_REQ_{n}"] for n in P.REQUEST_NAMES.values()} == {n: getattr(P, n) for n in P.REQUEST_NAMES.values()}
    assert {v: k for k, v in P.REQUEST_NAMES.items()} == {n[len("TRIX_REQ_"):]: v for n, v in c.items()
                                                          if n.startswith("TRIX_REQ_")}
    assert (c["TRIX_REPLY_FLAG"], c["TRIX_REPLY_ERROR"]) == (P.REPLY_FLAG, P.ERROR)
    assert {v: n[len("TRIX_ERR_"):] for n, v in c.items() if n.startswith("TRIX_ERR_")} == P.ERROR_NAMES
    wire = re.search(r"#define TRIX_COBS_MAX\(n\)\s+(.+)", (REPO / "firmware/app/trix_proto.h").read_text())[1]
    assert c_eval(wire, n=P.MAX_FRAME) == P.MAX_WIRE
    assert (c["TRIX_Q14_ONE"], 1 << c["TRIX_Q_FORMAT"]) == (Q14_ONE, Q14_ONE) and IO_FRAC == P.Q_FORMAT


def test_the_classifier_limits_are_stated_once():
    """The class count, the window length and the pooling codes of cfcbase.heads are the
    firmware's (trix_proto.h, trix_cell.h) and the protocol's, and the labelled files' bounds."""
    from cfcbase import labelled_files
    from cfcbase.heads import K_RANGE, MAX_WINDOW, POOLINGS
    c = c_constants("firmware/app/trix_proto.h", "firmware/core/trix_cell.h")
    assert c["TRIX_MAX_CLASSES"] == P.MAX_CLASSES == K_RANGE[1] == labelled_files.MAX_CLASSES
    assert K_RANGE[0] == labelled_files.MIN_CLASSES == 2
    assert c["TRIX_MAX_WINDOW"] == MAX_WINDOW == labelled_files.MAX_SERIES_LENGTH == (1 << 16) - 1   # a u16 count
    assert {p.code: p.name for p in POOLINGS.values()} == {c["TRIX_POOL_LAST"]: "last", c["TRIX_POOL_MEAN"]: "mean"}


def test_the_exit_marker_is_what_the_firmware_prints():
    src = (REPO / "firmware/platform/cortex-m/startup.c").read_text()
    printed = re.search(r'put_str\("(\\r\\n\*\*\* trixcfc: exit )"\)', src)[1]
    line = printed.encode().decode("unicode_escape").encode() + b"42\r\n"
    assert P.find_exit(line) == (42, len(line))
