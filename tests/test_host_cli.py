"""The host CLI without emulators: help text, one `error:` line for each kind of user error,
the pyOCD message, the atomic JSON writer, the client against an in-test fake firmware, and
the tool check naming the Debian packages."""
from __future__ import annotations

import json
import re
import os
import time
from pathlib import Path

import numpy as np
import pytest

from host import protocol as P
from host.client import Client
from host.errors import (BadFrame, DeviceError, NoReply, ProtocolError, SetupError, StateLost, TruncatedFrame,
                         Unframed)

REPO = Path(__file__).resolve().parents[1]



def one_error_line(r):
    lines = r.stderr.strip().splitlines()
    errs = [ln for ln in lines if ln.startswith("error:")]
    assert len(errs) == 1 and lines[-1] == errs[0] and "Traceback" not in r.stderr, r.stderr
    return errs[0]


def test_help_explains_every_option(host_cli):
    r = host_cli("verify", "--help")
    assert r.returncode == 0
    for opt in ("--qemu", "--port", "--target", "--model", "--sequences", "--json", "--baud", "--firmware",
                "--qemu-port", "--timeout", "--window", "--bench-steps"):
        assert opt in r.stdout
    assert "results/sine/best.npz" in r.stdout and "exit status" in r.stdout
    assert host_cli("--help").returncode == 0 and host_cli("flash", "--help").returncode == 0


def test_user_errors_are_one_line(host_cli, tmp_path):
    r = host_cli("verify", "--qemu", "--target", "native", "--model", tmp_path / "nope.npz")
    assert r.returncode == 2 and "not found" in one_error_line(r)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an npz")
    r = host_cli("verify", "--qemu", "--target", "native", "--model", bad)
    assert r.returncode == 2 and str(bad) in one_error_line(r)
    r = host_cli("verify", "--qemu", "--target", "cortex-m99")
    assert r.returncode == 2 and "cortex-m99" in r.stderr       # argparse usage error
    r = host_cli("verify", "--port", tmp_path / "ttyNONE", "--model", REPO / "nonexistent.npz")
    assert r.returncode == 2


def test_port_that_does_not_exist(host_cli, tmp_path):
    from cfcbase.artifact import save_artifact
    from codegen.testing import random_artifact
    npz = tmp_path / "m.npz"
    save_artifact(random_artifact(1, 4, seed=1), npz)
    r = host_cli("verify", "--port", tmp_path / "ttyNONE", "--model", npz)
    assert r.returncode == 2 and "cannot open" in one_error_line(r)


def test_flash_without_pyocd_says_how_to_install(host_cli):
    try:
        import pyocd  # noqa: F401
        pytest.skip("pyOCD is installed here")
    except ImportError:
        pass
    elf = Path(__file__)                       # any existing file: no build needed for this check
    r = host_cli("flash", "--firmware", elf)
    assert r.returncode == 2
    line = one_error_line(r)
    assert "pyOCD is not installed" in line and "pip install" in line and "flash" in line


def test_missing_tools_message_names_the_packages(monkeypatch):
    from host import qemu
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SetupError) as e:
        qemu.check_tools(["cortex-m3"])
    msg = str(e.value)
    assert "qemu-system-arm" in msg and "arm-none-eabi-gcc" in msg
    assert qemu.DEBIAN_PACKAGES in msg


def test_json_written_atomically(tmp_path):
    from host.verify import write_json_atomic
    p = tmp_path / "sub" / "r.json"
    write_json_atomic(p, {"a": 1})
    assert json.loads(p.read_text()) == {"a": 1}

    class Boom:
        pass
    with pytest.raises(TypeError):
        write_json_atomic(p, {"a": Boom()})
    assert json.loads(p.read_text()) == {"a": 1}            # the old report is intact
    assert sorted(os.listdir(p.parent)) == ["r.json"]         # no temp file left


# ---- the client against a fake firmware ----------------------------------------------------

class FakeFirmware:
    """Answers the protocol from an in-memory 'model' y = 2 * x + state (state = steps since
    RESET), a classifier of 3 classes with logits (state, -state, 7); `drop_after` stops answering
    after that many replies, `cut` truncates the next; `version` is what HELLO reports."""

    def __init__(self, drop_after=None, cut=False, version=P.PROTO_VERSION):
        self.version = version
        self.rx = bytearray()
        self.tx = bytearray()
        self.state = 0
        self.replies = 0
        self.drop_after = drop_after
        self.cut = cut

    def write(self, data):
        self.rx += data
        while 0 in self.rx:
            i = self.rx.index(0)
            enc, self.rx = bytes(self.rx[:i]), self.rx[i + 1:]
            if enc:
                try:
                    f = P.decode_frame(enc)
                except BadFrame:               # as trix_fw: an error reply (seq 0: none could be read)
                    self.tx += P.encode_frame(P.ERROR, 0, bytes([2, 0]))
                    continue
                self.answer(f)

    def answer(self, f):
        if self.drop_after is not None and self.replies >= self.drop_after:
            return
        self.replies += 1
        if f.type == P.HELLO:
            p = bytes([self.version, 1]) + (16).to_bytes(2, "little") + bytes([14]) + (64).to_bytes(2, "little") \
                + (0xABCD).to_bytes(8, "little") + b"\x04fake\x03ref"
        elif f.type == P.RESET:
            self.state, p = 0, b""
        elif f.type == P.STEP:
            xs = np.frombuffer(f.payload, "<i2").astype(int)
            ys = []
            for x in xs:
                ys.append(2 * x + self.state)
                self.state += 1
            p = np.array(ys, "<i2").tobytes()
        elif f.type == P.BENCH:
            p = (1000).to_bytes(4, "little") + (25_000_000).to_bytes(4, "little") + f.payload + b"\x00\x00"
        elif f.type == P.LOGITS:
            lg = [self.state, -self.state, 7]
            p = bytes([self.state & 0xFF, self.state >> 8, 3, int(np.argmax(lg))]) + np.array(lg, "<i4").tobytes()
        else:
            w = P.encode_frame(P.ERROR, f.seq, bytes([5, f.type]))
            self.tx += w
            return
        w = P.encode_frame(f.type | 0x80, f.seq, p)
        if self.cut:
            w = w[:3]
        self.tx += w

    def read(self, n):
        out, self.tx = bytes(self.tx[:n]), self.tx[n:]
        return out

    def alive(self):
        pass

    def drain(self):
        pass


def test_a_firmware_on_another_protocol_version_is_refused_in_one_line():
    with pytest.raises(ProtocolError) as e:
        Client(FakeFirmware(version=1), timeout=0.2).hello()
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("the firmware speaks protocol version 1; this host speaks 3: rebuild")


@pytest.mark.parametrize("window", [1, 16])
def test_client_collects_a_classifiers_logits_per_window(window):
    fw = FakeFirmware()
    c = Client(fw, timeout=0.2, window=window)
    x = np.zeros((3, 150, 1), np.int16)
    c.run_sequences(x, classes=3)
    assert c.window_logits.tolist() == [[150, -150, 7]] * 3 and c.window_class.tolist() == [0, 0, 0]
    assert c.window_steps.tolist() == [150] * 3
    assert c.frames_sent == 1 + 3 * (1 + 3 + 1)    # HELLO, then RESET + 3 STEPs + LOGITS each


@pytest.mark.parametrize("window", [1, 3, 16])
def test_client_streams_in_batches(window):
    fw = FakeFirmware()
    c = Client(fw, timeout=0.2, window=window)
    h = c.hello()
    assert (h.target, h.kernel, h.model_hash, h.max_steps) == ("fake", "ref", 0xABCD, 64)
    x = np.arange(3 * 150, dtype=np.int16).reshape(3, 150, 1)
    y = c.run_sequences(x)
    want = 2 * x[:, :, 0].astype(int) + np.arange(150)[None, :]
    assert (y == want).all()
    assert c.frames_sent == 1 + 3 * (1 + 3)        # HELLO, then RESET + ceil(150/64) STEPs each
    assert c.bench(100).n == 100


def test_client_reports_device_errors_and_timeouts():
    fw = FakeFirmware()
    c = Client(fw, timeout=0.1)
    with pytest.raises(DeviceError, match="UNKNOWN_TYPE"):
        c.request(0x09)
    c = Client(FakeFirmware(drop_after=1), timeout=0.1)
    c.hello()
    with pytest.raises(NoReply):
        c.reset()
    c = Client(FakeFirmware(cut=True), timeout=0.1)
    with pytest.raises(TruncatedFrame):
        c.hello()


def test_hello_skips_stale_replies():
    """Noise before the session (here: an error reply with seq 0 and a reply to an earlier
    session's request) does not derail the handshake."""
    fw = FakeFirmware()
    fw.tx += P.encode_frame(P.ERROR, 0, bytes([3, 0])) + P.encode_frame(0x82, 200, b"")
    c = Client(fw, timeout=0.2)
    assert c.hello().target == "fake"
    c.reset()


class LateUart(FakeFirmware):
    """A firmware whose UART comes up late: the first `lost` bytes written are dropped (as an
    STM32 USART drops bytes before CR1.UE|RE are set), cutting into the first HELLO."""

    def __init__(self, lost):
        super().__init__()
        self.lost = lost

    def write(self, data):
        keep = data[self.lost:]
        self.lost = max(0, self.lost - len(data))
        super().write(keep)


@pytest.mark.parametrize("lost,attempts", [(1, 2), (6, 2), (9, 3)])
def test_hello_is_sent_again_until_the_firmware_answers(lost, attempts):
    """A HELLO frame is 6 bytes on the wire: 1 or 6 lost bytes damage or drop the first HELLO,
    9 also the second one (after its leading 0x00)."""
    assert len(P.encode_frame(P.HELLO, 1, b"")) == 6
    c = Client(LateUart(lost), timeout=5.0)
    assert c.hello().target == "fake"
    assert c.hello_attempts == attempts
    c.reset()                              # and the stream after it is in step


def test_hello_that_is_never_answered_names_the_attempts():
    """The attempts wait 0.25, 0.5, ... s, and all of them together no longer than --timeout: the
    waits the client asks the reader for add up to at most the timeout (the last one cut short)."""
    t0 = time.monotonic()
    c = Client(FakeFirmware(drop_after=0), timeout=1.0)
    waits = []
    read_frame = c.reader.read_frame
    c.reader.read_frame = lambda t: waits.append(t) or read_frame(t)
    with pytest.raises(NoReply) as e:
        c.hello()
    assert time.monotonic() - t0 < 60      # a hang guard on a loaded machine, not a speed limit
    assert len(waits) == 3 and sum(waits) <= 1.0 and waits[0] == pytest.approx(0.25, abs=0.05), waits
    msg = str(e.value)
    assert "no reply to HELLO" in msg and "within 1 s" in msg and "3 HELLO attempts" in msg, msg


BENCH_OUT = """\
bench sine:best.npz I=1 H=32 kernel=dsp: matvec 3950 insns (1.87 per weight), cell step 7990 insns
bench random6-I1-H16 I=1 H=16 kernel=ref: matvec 3257 insns (5.98 per weight), cell step 5427 insns
bench random6-I1-H16 I=1 H=16 kernel=dsp: matvec 1235 insns (2.27 per weight), cell step 3405 insns
bench random6-I1-H16 I=1 H=16 kernel=dense-s8-smlad: matvec 1610 insns (2.95 per weight), matches ref
bench random6-I1-H16 I=1 H=16 weight bytes: ternary 160 (2 bits/trit, rows padded to 5 bytes), int8 544 (640 padded to 20 columns)
bench random9-I1-H32 I=1 H=32 kernel=dsp: matvec 3941 insns (1.86 per weight), cell step 7919 insns
bench random9-I1-H32 I=1 H=32 kernel=dense-s8-smlad: matvec 5226 insns (2.47 per weight), MISMATCH vs ref
"""


def test_bench_help_and_bad_hidden(host_cli):
    r = host_cli("bench", "--help")
    assert r.returncode == 0 and "--hidden" in r.stdout and "SMLAD" in r.stdout
    r = host_cli("bench", "--qemu", "--hidden", "12")
    assert r.returncode == 2 and "--hidden" in r.stderr


def test_bench_parse_table():
    from host.bench import format_table, parse
    rows, storage = parse(BENCH_OUT, [16, 32])
    got = {(r.hidden, r.kernel): r for r in rows}
    assert [(r.hidden, r.kernel) for r in rows] == [(16, "ref"), (16, "dsp"), (16, "dense-s8-smlad"),
                                                    (32, "dsp"), (32, "dense-s8-smlad")]
    assert got[(32, "dsp")].matvec == 3941                     # the random model is preferred
    d16 = got[(16, "dense-s8-smlad")]
    assert (d16.matvec, d16.step, d16.step_derived, d16.weight_bytes, d16.ok) == (1610, 1610 + 3405 - 1235, True,
                                                                                  544, True)
    assert got[(16, "dsp")].weight_bytes == 160 and not got[(32, "dense-s8-smlad")].ok
    text = format_table(rows, storage)
    assert "RESULT MISMATCH" in text and "log2(3) limit 108 B" in text


def test_bench_growth_exponent():
    from host.bench import Row, fit_exponent, format_table, growth_exponents
    assert abs(fit_exponent([8, 16, 32], [3 * 8 ** 2, 3 * 16 ** 2, 3 * 32 ** 2]) - 2.0) < 1e-12
    assert abs(fit_exponent([10, 100], [5.0, 50.0]) - 1.0) < 1e-12
    rows = [Row("lut", h, 1, 100 + h * h, 500 + h * h, False, 2 * h) for h in (8, 16, 32, 64)]
    rows += [Row("dsp", h, 1, h * h, None, False, 2 * h) for h in (16, 32)]      # two widths: no fit
    exps = growth_exponents(rows)
    assert list(exps) == ["lut"]
    mv, step, last = exps["lut"]
    assert 1.0 < mv < 2.0 and 0.5 < step < mv and abs(last - fit_exponent([32, 64], [1124, 4196])) < 1e-12
    text = format_table(rows, {})
    assert "growth exponent in H" in text and "H = 8, 16, 32, 64" in text and f"matvec {mv:.2f}" in text


BENCH_OUT_STEPS = """\
bench random9-I1-H32 I=1 H=32 kernel=dsp/lut: matvec 2906 insns (1.37 per weight), cell step 4416 insns, reference cell step 6879 insns
bench random9-I1-H32 I=1 H=32 kernel=ref: matvec 11098 insns (5.25 per weight), cell step 12611 insns, reference cell step 15074 insns
bench random9-I1-H32 I=1 H=32 kernel=code: matvec 1651 insns (0.78 per weight), cell step 3164 insns, reference cell step 5627 insns, function tv11_matvec_code
bench random9-I1-H32 I=1 H=32 weight bytes: ternary 576 (2 bits/trit, rows padded to 9 bytes), int8 2112 (2304 padded to 36 columns)
"""


def test_bench_parses_both_steps_and_the_code_kernels_flash():
    """Each step through the runtime and the reference per-row path side by side; the code
    kernel's flash is its function's size in the image, the others' the packed trits."""
    from host.bench import format_table, parse, runtime_summary
    rows, storage = parse(BENCH_OUT_STEPS, [32], {"tv11_matvec_code": 4886})
    got = {r.kernel: r for r in rows}
    assert [r.kernel for r in rows] == ["ref", "dsp/lut", "code"]
    assert (got["dsp/lut"].step, got["dsp/lut"].step_ref, got["dsp/lut"].weight_bytes) == (4416, 6879, 576)
    assert (got["code"].matvec, got["code"].step, got["code"].step_ref) == (1651, 3164, 5627)
    assert (got["code"].function, got["code"].weight_bytes) == ("tv11_matvec_code", 4886)
    text = format_table(rows, storage)
    assert re.search(r"^code +32 +1 +1651 +0\.78 +3164 +5627 +0\.56 +4886$", text, re.M), text
    summary = runtime_summary(rows, "dsp/lut")
    assert ("H=32: cell step, runtime kernel dsp/lut: reference per-row path 6879 -> 4416 instructions (0.64x); "
            "weights as code 3164 (0.46x), flash 4886 B of code against 576 B of packed trits") in summary, summary
    rows, _ = parse(BENCH_OUT_STEPS, [32])                       # no symbol table: flash unknown, not guessed
    assert next(r for r in rows if r.kernel == "code").weight_bytes is None


def test_bench_lut_table_build_line():
    from host.bench import Row, format_lut_tables, parse_lut_tables
    text = ("bench sine:best.npz I=1 H=32 lut tables only: 1300 insns (9 tables)\n"
            "bench random9-I1-H32 I=1 H=32 lut tables only: 1170 insns (9 tables)\n"
            "bench random1-I1-H16 I=1 H=16 lut tables only: 650 insns (5 tables)\n")
    tables = parse_lut_tables(text, [32])
    assert tables == {32: (1170, 9)}                           # H=16 not asked, random model preferred
    line = format_lut_tables(tables, [Row("lut", 32, 1, 3341, 7318, False, 576)])
    assert "1170 instructions for 9 tables, 130 per table, 35% of the lut matvec (3341)" in line


# ---- a capped reader; replies with the wrong seq ------------------------------------------

class Chatter(FakeFirmware):
    """A peer that sends bytes without ever a 0x00 (a console, noise): `rate` bytes per read."""

    def __init__(self, rate=64):
        super().__init__()
        self.rate = rate
        self.sent = 0

    def read(self, n):
        self.sent += self.rate
        return b"\x55" * self.rate


def test_reader_cuts_off_a_peer_without_delimiters():
    """Cut off once past the largest legal reply (519 bytes), long before the timeout."""
    import time as _time
    fw = Chatter()
    c = Client(fw, timeout=30.0)
    t0 = _time.monotonic()
    with pytest.raises(Unframed, match=r"bytes without a 0x00 frame delimiter, more than the largest legal "
                                       r"reply \(519 bytes\)"):
        c.hello()
    assert _time.monotonic() - t0 < 5.0
    assert P.MAX_WIRE == 519 < fw.sent <= 519 + 2 * 64      # read at most one chunk past the cap
    assert len(P.encode_frame(P.STEP | 0x80, 1, bytes([1]) * P.MAX_PAYLOAD)) - 1 == P.MAX_WIRE


class WrongSeq(FakeFirmware):
    """Answers every request well-formed, but with seq + 7, `copies` times."""
    copies = 60

    def answer(self, f):
        n0 = len(self.tx)
        super().answer(f)
        g = P.decode_frame(bytes(self.tx[n0:-1]))
        self.tx[n0:] = P.encode_frame(g.type, (g.seq + 7) & 0xFF, g.payload) * self.copies


def test_sixty_replies_with_the_wrong_seq_are_reported_as_such():
    fw = WrongSeq()
    c = Client(fw, timeout=0.3)
    with pytest.raises(ProtocolError, match=r"well-formed replies but none to HELLO .* the device answers "
                                            r"with the wrong sequence number") as e:
        c.hello()
    assert not isinstance(e.value, NoReply) and int(str(e.value).split()[0]) >= 60
    # and in the stream: the first such reply stops it, named
    fw = FakeFirmware()
    c = Client(fw, timeout=0.3)
    c.hello()
    fw.__class__ = WrongSeq
    with pytest.raises(StateLost, match=r"sequence 0, step 0 \(RESET: reply seq 9 for request seq 2 \(out of step"):
        c.run_sequences(np.zeros((60, 1, 1), np.int16))


# ---- verify's own count; a device that loses its state -----------------------------------

class WrongAt(FakeFirmware):
    """Wrong by one only where the input is `bad_x` (so also when that sequence runs again)."""
    bad_x = None

    def answer(self, f):
        n0 = len(self.tx)
        super().answer(f)
        if f.type == P.STEP and self.bad_x is not None:
            xs = np.frombuffer(f.payload, "<i2")
            if self.bad_x in xs:
                g = P.decode_frame(bytes(self.tx[n0:-1]))
                ys = np.frombuffer(g.payload, "<i2").copy()
                ys[list(xs).index(self.bad_x)] += 1
                self.tx[n0:] = P.encode_frame(g.type, g.seq, ys.astype("<i2").tobytes())


class ResetsOnce(FakeFirmware):
    """Loses its state once, like a device reset between two requests (`lose_reply`: while
    computing one, whose reply never comes): after the `at`-th STEP request the state is 0."""

    def __init__(self, at, lose_reply=False):
        super().__init__()
        self.at, self.lose_reply, self.steps = at, lose_reply, 0

    def answer(self, f):
        if f.type == P.STEP:
            self.steps += 1
            if self.steps == self.at:
                self.state = 0
                if self.lose_reply:
                    return
        super().answer(f)


def fake_verify(fw, N=6, T=50, window=16):
    """host.verify's per-target path (verify_link + summarise + print_target) against a fake
    whose model is y = 2x + steps since RESET; inputs x[s, t] = 100 s + t."""
    import io
    import types
    from host import verify
    x = (100 * np.arange(N)[:, None] + np.arange(T)[None, :]).astype(np.int16)[:, :, None]
    gold = (2 * x[:, :, 0].astype(int) + np.arange(T)[None, :]).astype(np.int16)
    from host.heads import ReadoutVerify
    model = types.SimpleNamespace(hash=0xABCD, hash_hex=f"{0xABCD:016x}", I=1, H=16, weights_s8=None)
    ref = verify.Reference(None, model, x / 16384.0, x, gold, np.zeros(gold.shape + (16,), np.int16), "fake",
                           head=ReadoutVerify, expected={"truth": gold / 16384.0, "float": gold / 16384.0,
                                                         "baselines": {}, "units": None})
    log = []
    run = verify.verify_link(fw, ref, verify.Options(timeout=0.3, bench_steps=10), "fake", log.append, window)
    rec = verify.summarise("fake", run, ref, emulated=True)
    rec["wall_s"] = 0.0
    out = io.StringIO()
    verify.print_target(rec, out)
    return rec, out.getvalue(), log


@pytest.mark.parametrize("window", [1, 16])
def test_verify_catches_a_device_wrong_only_at_the_last_step_of_one_sequence(window):
    fw = WrongAt()
    fw.bad_x = 3 * 100 + 49
    rec, out, _ = fake_verify(fw, window=window)
    assert rec["mismatches"] == 1 and rec["state_losses"] == []
    assert rec["first_mismatch"] == {"sequence": 3, "step": 49, "expected": 2 * 349 + 49, "got": 2 * 349 + 50,
                                     "expected_float": (2 * 349 + 49) / 16384, "got_float": (2 * 349 + 50) / 16384}
    assert "mismatches            1 of 300; first: sequence 3, step 49: expected 747" in out
    fw = WrongAt()
    rec, out, _ = fake_verify(fw, window=window)
    assert rec["mismatches"] == 0 and "mismatches            0 (bit-exact" in out


@pytest.mark.parametrize("lose_reply", [False, True])
def test_verify_resumes_after_the_device_lost_its_state(lose_reply):
    """A reset between requests (replies in step, outputs from h = 0) or while computing (one
    reply lost): the host notices, runs that sequence again from h = 0, and counts no step of
    the lost state, neither as a match nor as a mismatch."""
    fw = ResetsOnce(at=2 * 2 + 2, lose_reply=lose_reply)     # T = 100: 2 STEPs per sequence (64 + 36)
    rec, out, log = fake_verify(fw, T=100)
    assert rec["mismatches"] == 0 and rec["steps"] == 600
    [e] = rec["state_losses"]
    assert (e["sequence"], e["step"]) == (2, 64)
    assert ("STEP: expected reply type 0x83, got 0x82" in e["what"]) == lose_reply
    assert "device state lost     at sequence 2, step 64" in out and "mismatches            0 (bit-exact" in out
    assert any("the device lost its state at sequence 2, step 64" in s for s in log)


def test_verify_stops_naming_the_step_when_the_state_is_lost_too_often():
    class ResetsOften(FakeFirmware):
        steps = 0

        def answer(self, f):
            if f.type == P.STEP:
                self.steps += 1
                if self.steps % 3 == 0:
                    self.state = 0
            super().answer(f)
    with pytest.raises(StateLost, match=r"lost its state again at sequence 18, step 64 .*8 times already; stopped"):
        fake_verify(ResetsOften(), N=40, T=100, window=1)


class ClassifierResetsOnce(ResetsOnce):
    """A classifier whose per-step output does not show its state (y = 0, as a classifier's):
    only the window's logits (steps since RESET, ...) reveal a reset in the middle of a window."""

    def answer(self, f):
        n0 = len(self.tx)
        super().answer(f)
        if f.type == P.STEP and len(self.tx) > n0:
            g = P.decode_frame(bytes(self.tx[n0:-1]))
            self.tx[n0:] = P.encode_frame(g.type, g.seq, bytes(len(g.payload)))


def test_a_classifiers_lost_state_is_noticed_by_its_logits_and_the_window_runs_again():
    fw = ClassifierResetsOnce(at=2 * 2 + 2)                 # T = 100: 2 STEPs per window
    c = Client(fw, timeout=0.3, window=16)
    x = np.zeros((4, 100, 1), np.int16)
    want = np.tile([100, -100, 7], (4, 1))
    c.run_sequences(x, expected=np.zeros((4, 100), np.int16), classes=3, expected_logits=want)
    assert np.array_equal(c.window_logits, want) and c.window_steps.tolist() == [100] * 4
    [e] = c.state_losses
    assert (e["sequence"], e["step"]) == (2, 100) and "logit 0 36 where the golden model gives 100" in e["what"]
