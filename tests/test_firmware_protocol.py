"""trix_fw speaks docs/protocol.md: HELLO/RESET/STEP/BENCH on every
target through a pipe (native, ASan/UBSan native, qemu-aarch64, qemu-system-arm), STEP outputs
bit-exact with the golden model, and a robustness run of >= 10,000 random, truncated,
oversized and CRC-corrupted frames against the native build (plain and sanitized): each gets
exactly the error reply a spec-level oracle names (or nothing, for empty frames), nothing
crashes or hangs, and a valid STEP right after each one is answered bit-exactly, so no bad frame
ran a step or touched the state.

Framing and reply parsing come from host.protocol (so the host side is exercised against the
firmware too); the oracle has its own small spec-level COBS decoder (not the firmware's
incremental algorithm) because it must also see the bytes of invalid encodings."""
from __future__ import annotations

import os
import random
import select
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from host.protocol import cobs_encode, crc16, decode_frame
from host.protocol import encode_frame as frame
from host.protocol import parse_hello as host_parse_hello

MAX_PAYLOAD = 512
HELLO, RESET, STEP, BENCH, LOGITS, DECIDE, ERROR = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x7F
BAD_CRC, BAD_COBS, TOO_SHORT, OVERSIZE, UNKNOWN_TYPE, BAD_LENGTH, NO_CLASSES = 1, 2, 3, 4, 5, 6, 7


# ---- helpers: framing from host.protocol; the oracle's decoder is its own -----------------


def cobs_decode(enc: bytes):
    """(decoded bytes, valid), also for an invalid encoding: the oracle needs the bytes decoded
    before a frame ended inside a COBS block (host.protocol.cobs_decode raises there)."""
    out, i = bytearray(), 0
    while i < len(enc):
        code = enc[i]
        block = enc[i + 1:i + code]
        out += block
        i += code
        if len(block) < code - 1:
            return bytes(out), False
        if code != 0xFF and i < len(enc):
            out.append(0)
    return bytes(out), True


def oracle(segment: bytes, inputs: int, max_steps: int, classes: int = 0):
    """The reply the spec names for the bytes between two 0x00: None (empty frame: ignored),
    ('error', code, type, seq) or ('valid', type, seq, payload). type/seq of an error are the
    first decoded bytes where there are any (docs/protocol.md). `classes`: the model's K (0: a
    regression model, whose LOGITS and DECIDE are NO_CLASSES)."""
    if not segment:
        return None
    dec, ok = cobs_decode(segment)
    t = dec[0] if len(dec) >= 1 else 0
    s = dec[1] if len(dec) >= 2 else 0
    if len(dec) > MAX_PAYLOAD + 4:
        return ("error", OVERSIZE, t, s)
    if not ok:
        return ("error", BAD_COBS, t, s)
    if len(dec) < 4:
        return ("error", TOO_SHORT, t, s)
    if crc16(dec[:-2]) != dec[-2] | dec[-1] << 8:
        return ("error", BAD_CRC, t, s)
    p = dec[2:-2]
    if t not in (HELLO, RESET, STEP, BENCH, LOGITS, DECIDE):
        return ("error", UNKNOWN_TYPE, t, s)
    good = {HELLO: len(p) == 0, RESET: len(p) == 0,
            STEP: len(p) > 0 and len(p) % (2 * inputs) == 0 and len(p) // (2 * inputs) <= max_steps,
            BENCH: len(p) == 2 and 1 <= (p[0] | p[1] << 8) <= 4096, LOGITS: len(p) == 0, DECIDE: len(p) == 0}[t]
    if not good:
        return ("error", BAD_LENGTH, t, s)
    if t in (LOGITS, DECIDE) and not classes:
        return ("error", NO_CLASSES, t, s)
    return ("valid", t, s, p)


class Link:
    """trix_fw on a pipe; every read has a deadline, so a hang fails the test instead of blocking."""

    def __init__(self, cmd, timeout=10.0):
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  bufsize=0)
        self.buf = bytearray()
        self.timeout = timeout

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.p.poll() is None:   # a failed test must not leave QEMU running
            self.p.kill()
            self.p.wait()
        for f in (self.p.stdin, self.p.stdout, self.p.stderr):
            try:
                f.close()
            except OSError:
                pass
        return False

    def send(self, data: bytes):
        self.p.stdin.write(data)

    def reply(self):
        deadline = time.monotonic() + self.timeout
        while 0 not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.p.stdout], [], [], left)[0]:
                raise AssertionError(f"no reply within {self.timeout} s (firmware hung?)")
            chunk = os.read(self.p.stdout.fileno(), 65536)
            if not chunk:
                raise AssertionError(f"firmware exited (rc {self.p.poll()}): {self.p.stderr.read().decode()[-3000:]}")
            self.buf += chunk
        end = self.buf.index(0)
        enc, self.buf = bytes(self.buf[:end]), self.buf[end + 1:]
        f = decode_frame(enc)   # raises on a bad reply frame
        return f.type, f.seq, f.payload

    def request(self, typ, seq, payload=b""):
        self.send(frame(typ, seq, payload))
        return self.reply()

    def close(self, expect_exit=True):
        self.p.stdin.close()
        if expect_exit:
            try:
                rc = self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                raise AssertionError("firmware did not exit on EOF")
            err = self.p.stderr.read().decode()
            assert rc == 0 and "ERROR" not in err and "runtime error" not in err, (rc, err[-3000:])
        else:   # a board never sees EOF: stop QEMU
            self.p.kill()
            self.p.wait()
        assert not self.buf, f"unexpected bytes after the last reply: {bytes(self.buf).hex()}"


def parse_hello(p: bytes) -> dict:
    h = host_parse_hello(p)
    return dict(version=h.proto_version, I=h.inputs, H=h.hidden, q=h.q_format, max_steps=h.max_steps,
                hash=h.model_hash, target=h.target, kernel=h.kernel)


def golden(art, x_q14: np.ndarray) -> np.ndarray:
    from codegen.golden import IntModel, run_golden
    return run_golden(IntModel.from_artifact(art), x_q14.reshape(1, -1, art.I).astype(np.int16))[0]


def sine_inputs(I, T, seed):
    from codegen.testing import random_inputs_q14
    return random_inputs_q14(I, 1, T, seed)[0]


def steps_payload(x) -> bytes:
    return np.asarray(x, "<i2").tobytes()


TARGETS = [pytest.param("native", (), id="native"),
           pytest.param("native", ("-DTRIX_SANITIZE=ON",), id="native-asan-ubsan"),
           pytest.param("aarch64", (), id="aarch64", marks=pytest.mark.qemu),
           pytest.param("cortex-m4", (), id="cortex-m4", marks=pytest.mark.qemu),
           pytest.param("cortex-m3", (), id="cortex-m3", marks=pytest.mark.qemu),
           pytest.param("cortex-m55", (), id="cortex-m55", marks=pytest.mark.qemu)]


@pytest.mark.parametrize("target,options", TARGETS)
def test_hello_step_bench_bit_exact(fw, target, options):
    b = fw.build(target, *options)
    _, art = fw.model()
    with Link(fw.command(target, fw.elf(b))) as link:
        t, s, p = link.request(HELLO, 1)
        assert (t, s) == (0x81, 1)
        h = parse_hello(p)
        assert h == dict(version=3, I=art.I, H=art.H, q=14, max_steps=min(64, MAX_PAYLOAD // (2 * art.I)),
                         hash=h["hash"], target=target, kernel=h["kernel"])
        assert h["kernel"] in fw.EXPECTED_KERNEL[target], h
        model_h = (Path(fw.model()[0]) / "trix_model.h").read_text()
        assert f"0x{h['hash']:016x}" in model_h
        # two sequences of 150 steps in requests of 1..64 steps, RESET in between
        rng = random.Random(7)
        for seq_no in range(2):
            x = sine_inputs(art.I, 150, seed=100 + seq_no)
            want = golden(art, x)
            assert link.request(RESET, 2) == (0x82, 2, b"")
            got, t0 = [], 0
            while t0 < len(x):
                n = min(rng.randint(1, 64), len(x) - t0)
                t, s, p = link.request(STEP, 3 + t0 % 200, steps_payload(x[t0:t0 + n]))
                assert (t, s, len(p)) == (0x83, 3 + t0 % 200, 2 * n), (t, s, p)
                got += list(np.frombuffer(p, "<i2"))
                t0 += n
            assert np.array_equal(np.array(got, np.int16), want), f"first mismatch at step " \
                f"{int(np.argmax(np.array(got) != want))}"
        # BENCH: n echoed, ticks counted, and the state is reset afterwards
        t, s, p = link.request(BENCH, 9, struct.pack("<H", 100))
        ticks, hz, n = struct.unpack("<III", p)
        assert (t, s, n) == (0x84, 9, 100) and hz > 0 and ticks > 0
        x = sine_inputs(art.I, 10, seed=5)
        t, s, p = link.request(STEP, 10, steps_payload(x))
        assert np.array_equal(np.frombuffer(p, "<i2"), golden(art, x))
        link.close(expect_exit=not target.startswith("cortex"))


@pytest.mark.qemu
def test_bench_reply_counts_instructions_on_cortex_m4(fw):
    """BENCH under -icount shift=0: ticks x 40 = instructions (tick_hz 25 MHz, 1 insn = 1 ns)."""
    b = fw.build("cortex-m4")
    with Link(fw.command("cortex-m4", fw.elf(b), icount=True)) as link:
        t, s, p = link.request(BENCH, 1, struct.pack("<H", 4096))
        ticks, hz, n = struct.unpack("<III", p)
        assert hz == 25_000_000 and n == 4096
        again = struct.unpack("<III", link.request(BENCH, 2, struct.pack("<H", 4096))[2])[0]
        assert abs(again - ticks) <= 1   # deterministic under -icount up to the phase of the 40-insn tick
        per_step = ticks * (1e9 / hz) / n
        assert 500 < per_step < 20000
        print(f"\ncortex-m4 BENCH: {ticks} ticks / {n} steps at {hz} Hz -> {per_step:.0f} instructions per step")
        link.close(expect_exit=False)


# ---- robustness --------------------------------------------------------------------------

def bad_frames(rng: random.Random, inputs: int, count: int):
    """count byte strings (each ending with 0x00), cycling through the kinds of damage."""
    def valid_request():
        k = rng.randrange(4)
        if k == 0:
            return bytes([HELLO, rng.randrange(256)])
        if k == 1:
            return bytes([RESET, rng.randrange(256)])
        if k == 2:
            n = rng.randint(1, 64)
            return bytes([STEP, rng.randrange(256)]) + rng.randbytes(2 * inputs * n)
        return bytes([BENCH, rng.randrange(256)]) + struct.pack("<H", rng.randint(1, 4096))

    def wire(body):
        return cobs_encode(body + struct.pack("<H", crc16(body)))

    kinds = []
    for i in range(count):
        kind = i % 10
        if kind == 0:    # random garbage, zeros included (several frames at once)
            data = rng.randbytes(rng.randint(1, 700))
        elif kind == 1:  # random non-zero garbage: one frame, any length up to well past OVERSIZE
            data = bytes(rng.randint(1, 255) for _ in range(rng.choice([rng.randint(1, 40), rng.randint(500, 1500)])))
        elif kind == 2:  # valid request, one bit of the CRC or body flipped before encoding
            body = valid_request()
            raw = bytearray(body + struct.pack("<H", crc16(body)))
            raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
            data = cobs_encode(bytes(raw))
        elif kind == 3:  # valid request truncated on the wire
            w = wire(valid_request())
            data = w[:rng.randrange(0, len(w))]
        elif kind == 4:  # oversize: well-formed COBS of 513 .. 2000 decoded bytes
            body = bytes([STEP, rng.randrange(256)]) + rng.randbytes(rng.randint(MAX_PAYLOAD - 1, 1996))
            data = wire(body)
        elif kind == 5:  # valid CRC, unknown type
            t = rng.choice([0x00, 0x07, 0x7F, 0x81, 0x86, 0xFF, rng.randrange(7, 256)])
            data = wire(bytes([t, rng.randrange(256)]) + rng.randbytes(rng.randint(0, 20)))
        elif kind == 6:  # valid CRC, bad length for the request (or LOGITS / DECIDE to a regression model)
            t = rng.choice([HELLO, RESET, STEP, BENCH, LOGITS, DECIDE])
            if t in (LOGITS, DECIDE):
                p = b"" if rng.random() < 0.8 else rng.randbytes(rng.randint(1, 10))
            elif t in (HELLO, RESET):
                p = rng.randbytes(rng.randint(1, 10))
            elif t == STEP:
                p = rng.choice([b"", rng.randbytes(2 * inputs * 65 if 2 * inputs * 65 <= MAX_PAYLOAD else 1),
                                rng.randbytes(2 * inputs * rng.randint(1, 10) + 1)])
            else:
                p = rng.choice([b"", b"\x00\x00", struct.pack("<H", rng.randint(4097, 65535)), rng.randbytes(3)])
            data = wire(bytes([t, rng.randrange(256)]) + p)
        elif kind == 7:  # wire bytes of a valid request with random byte substitutions/insertions
            w = bytearray(wire(valid_request()))
            for _ in range(rng.randint(1, 3)):
                j = rng.randrange(len(w) + 1)
                if rng.random() < 0.5 and j < len(w):
                    w[j] = rng.randrange(256)
                else:
                    w.insert(j, rng.randrange(256))
            data = bytes(w)
        elif kind == 8:  # short frames: 0..3 decoded bytes, and empty frames
            data = rng.choice([b"", wire(b"")[:1], cobs_encode(rng.randbytes(rng.randint(0, 3)))])
        else:            # a valid request cut short and followed by the start of another
            data = wire(valid_request())[: rng.randint(1, 6)] + wire(valid_request())
        kinds.append(bytes(data) + b"\x00")
    return kinds


def run_robustness(link: Link, art, n_frames: int, seed: int):
    rng = random.Random(seed)
    h = parse_hello(link.request(HELLO, 0)[2])
    inputs, max_steps = h["I"], h["max_steps"]
    x = sine_inputs(inputs, 3 * n_frames, seed=seed)
    want = golden(art, x)
    assert link.request(RESET, 0)[0] == 0x82
    t_pos, counts = 0, {}
    for k, data in enumerate(bad_frames(rng, inputs, n_frames)):
        segments = data.split(b"\x00")[:-1]
        expected = [oracle(seg, inputs, max_steps) for seg in segments]
        if any(e and e[0] == "valid" for e in expected):
            continue   # a random frame that happens to be a valid request (CRC hit): not a bad frame
        link.send(data)
        for e in expected:
            if e is None:
                counts["dropped"] = counts.get("dropped", 0) + 1
                continue
            got = link.reply()
            _, code, typ, seq = e
            assert got == (ERROR, seq, bytes([code, typ])), \
                f"frame {k} ({data[:40].hex()}...): expected error {e}, got {got}"
            counts[code] = counts.get(code, 0) + 1
        # a valid request right after: continues the sequence bit-exactly (no step ran, no reset)
        if k % 50 == 49:
            assert parse_hello(link.request(HELLO, k & 0xFF)[2]) == h
        n = rng.randint(1, 3)
        t, s, p = link.request(STEP, k & 0xFF, steps_payload(x[t_pos:t_pos + n]))
        assert (t, s) == (0x83, k & 0xFF), (k, t, s, p)
        assert np.array_equal(np.frombuffer(p, "<i2"), want[t_pos:t_pos + n]), f"state changed by frame {k}"
        t_pos += n
    return counts


@pytest.mark.parametrize("options", [(), ("-DTRIX_SANITIZE=ON",)], ids=["native", "native-asan-ubsan"])
def test_robustness_10000_bad_frames(fw, options):
    b = fw.build("native", *options)
    _, art = fw.model()
    with Link(fw.command("native", fw.elf(b))) as link:
        counts = run_robustness(link, art, 10_500, seed=2024)
        link.close()
        errors = sum(v for k, v in counts.items() if k != "dropped")
        assert errors >= 10_000, counts
        for code in (BAD_CRC, BAD_COBS, TOO_SHORT, OVERSIZE, UNKNOWN_TYPE, BAD_LENGTH, NO_CLASSES):
            assert counts.get(code, 0) >= 100, counts   # every error reply of the spec exercised
        print(f"\nrobustness {'+'.join(options) or 'plain'}: {errors} error replies {counts}")


def test_oracle_helpers():
    assert crc16(b"123456789") == 0x29B1
    for n in (0, 1, 253, 254, 255, 508, 600):
        data = bytes((i % 255) + 1 if i % 5 else 0 for i in range(n))
        enc = cobs_encode(data)
        assert 0 not in enc and cobs_decode(enc) == (data, True)
    assert oracle(b"\x05\x01\x02", 1, 64) == ("error", BAD_COBS, 1, 2)
    assert oracle(frame(HELLO, 3)[:-1], 1, 64) == ("valid", HELLO, 3, b"")
    assert oracle(frame(LOGITS, 4)[:-1], 1, 64) == ("error", NO_CLASSES, LOGITS, 4)
    assert oracle(frame(LOGITS, 4)[:-1], 1, 64, classes=3) == ("valid", LOGITS, 4, b"")
    assert oracle(frame(LOGITS, 4, b"\x01")[:-1], 1, 64, classes=3) == ("error", BAD_LENGTH, LOGITS, 4)
    assert oracle(frame(DECIDE, 4)[:-1], 1, 64) == ("error", NO_CLASSES, DECIDE, 4)
    assert oracle(frame(DECIDE, 4)[:-1], 1, 64, classes=3) == ("valid", DECIDE, 4, b"")
