"""`python -m host verify` end to end against the real firmware: every target bit-exact over the whole test set with the golden model's MSE; a trit flipped in
the compiled-in weights is caught by the streaming check, a model-hash mismatch before any
streaming; QEMU killed mid-run, Ctrl-C, a busy port, QEMU missing; the board path through a
pseudo-terminal. Everything runs `python -m host` as a user would (subprocess) unless it needs
to look inside (which frames were sent)."""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

from cfcbase.artifact import load_artifact, save_artifact
from codegen.golden import IntModel, dequantize_output, quantize_input, run_golden

from host import protocol as P
from host.errors import ModelMismatch
from host.targets import DEFAULT_TARGETS, TARGETS

COMMITTED = REPO / "results" / "sine" / "best.npz"
ALL = list(DEFAULT_TARGETS)          # tests/test_targets.py pins which ones these are

_cache: dict = {}
HANG_GUARD_S = 120      # how long a test waits for what should take seconds: a hang guard, not a speed test



@pytest.fixture(scope="module")
def npz(tmp_path_factory, random_npz):
    """The committed sine model when it is there, else a random I=1, H=16 artifact."""
    if COMMITTED.is_file():
        return COMMITTED
    return random_npz(tmp_path_factory.mktemp("host-model") / "random-h16.npz")


@pytest.fixture(scope="module")
def build_root(tmp_path_factory):
    return tmp_path_factory.mktemp("host-build")


@pytest.fixture(scope="module")
def all_targets(host_cli, npz, build_root, tmp_path_factory):
    """One `verify --qemu --target all` run (also builds every firmware for the other tests)."""
    j = tmp_path_factory.mktemp("host-report") / "report.json"
    t0 = time.monotonic()
    r = host_cli("verify", "--qemu", "--target", "all", "--model", npz, "--build-dir", build_root, "--json", j)
    return r, j, time.monotonic() - t0


def elf(build_root, npz, target):
    h = IntModel.from_artifact(load_artifact(npz)).hash_hex
    p = Path(build_root) / f"{target}-{h}" / "firmware" / "app" / "trix_fw"
    assert p.is_file(), p
    return p


def reference(npz):
    if "ref" not in _cache:
        from host.verify import load_reference
        _cache["ref"] = load_reference(str(npz))
    return _cache["ref"]


# ---- every target bit-exact, with its figures ---------------------------------------------

@pytest.mark.qemu
def test_verify_all_targets_bit_exact_with_golden_mse(all_targets, npz):
    r, j, wall = all_targets
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads(Path(j).read_text())
    ref = reference(npz)
    N, T = ref.expected["truth"].shape
    # the golden model's MSE as codegen reports it (`python -m codegen accuracy`), and all-step
    # MSE computed here, both independently of host.verify
    from codegen.heads import IntReadout
    art = load_artifact(npz)
    golden_wash = IntReadout.accuracy_report(art, ref.x, ref.expected["truth"], ref.golden_q14)["golden_mse_washout"]
    g = dequantize_output(run_golden(IntModel.from_artifact(art), quantize_input(ref.x)))
    golden_all = float(np.mean((g - ref.expected["truth"]) ** 2))
    assert [t["target"] for t in rep["targets"]] == ALL
    for t in rep["targets"]:
        assert t["mismatches"] == 0 and t["first_mismatch"] is None, t
        assert t["steps"] == N * T and t["sequences"] == N
        assert t["kernel"] == TARGETS[t["target"]].kernel
        assert t["mse_vs_truth"]["all"] == golden_all
        assert t["mse_vs_truth"]["washout"] == golden_wash
        assert t["footprint"]["flash"] > 0 and t["footprint"]["ram"] > 0
        if TARGETS[t["target"]].bare_metal:
            assert t["bench"]["unit"] == "instructions" and 100 < t["bench"]["per_step"] < 100000
            # the image fits the chip of the target table, whose capacity verify reports
            fp = t["footprint"]
            assert fp["flash"] < fp["flash_capacity"] == TARGETS[t["target"]].flash_bytes
            assert fp["ram"] < fp["ram_capacity"] == TARGETS[t["target"]].ram_bytes
    assert (N, T) == (256, 50) and rep["data"].startswith("sine test set")   # the whole sine test set
    out = r.stdout
    assert out.count("mismatches            0 (bit-exact") == len(ALL)
    assert "(= golden model)" in out and "instructions/step" in out and "flash / RAM" in out
    # the nRF51: 16 KB of RAM, TIMER0 ticks (no SysTick), the lookup kernel named
    assert "== nrf51: kernel lut," in out and "of 16384 B" in out and "TIMER0 ticks x 62.5 instructions/tick" in out
    m = re.search(rf"verify: PASS: {len(ALL)}/{len(ALL)} targets bit-exact over (\d+) x (\d+) steps; "
                  r"wall time ([\d.]+) s", out)
    assert m, out
    # built and streamed concurrently, printed in the order asked for
    assert re.findall(r"^== ([\w-]+):", out, re.M) == ALL, out
    assert f"verify: {len(ALL)} targets, " in r.stderr and " at a time" in r.stderr
    print(f"\nverify --qemu --target all: {m[3]} s as printed, {wall:.1f} s with interpreter start")


@pytest.mark.qemu
def test_codegen_runs_once_per_model(npz, build_root, all_targets, monkeypatch, capsys):
    """verify loads and exports the model once (host.model) and builds every target from it: no
    `python -m codegen` per target, one codegen.export.export_model for the whole run."""
    import host.model
    from host import verify
    calls = []
    real = host.model.export_model
    monkeypatch.setattr(host.model, "export_model", lambda *a, **k: calls.append(a) or real(*a, **k))
    spawned = []
    real_popen = subprocess.Popen.__init__

    def popen(self, args, *a, **k):
        spawned.append(" ".join(map(str, args)) if isinstance(args, (list, tuple)) else str(args))
        return real_popen(self, args, *a, **k)
    monkeypatch.setattr(subprocess.Popen, "__init__", popen)
    opts = verify.Options(targets=ALL, model=str(npz), build_root=str(build_root), sequences=2, bench_steps=10)
    assert verify.run(opts, lambda m: None) == 0
    assert len(calls) == 1, calls
    assert not [c for c in spawned if "-m codegen" in c], spawned
    assert capsys.readouterr().out.count("(bit-exact with the golden model)") == len(ALL)


@pytest.mark.qemu
def test_stm32f405_vectors_at_flash_start(npz, build_root, all_targets):
    """The STM32F405 image starts at the chip's flash (0x08000000) with its vector table: initial
    SP inside the 128 KB SRAM, reset handler in flash (Thumb bit set)."""
    fw = elf(build_root, npz, "stm32f405")
    r = subprocess.run(["arm-none-eabi-readelf", "-S", "-W", str(fw)], capture_output=True, text=True, check=True)
    m = re.search(r"\.isr_vector\s+PROGBITS\s+([0-9a-f]{8})\s+([0-9a-f]+)", r.stdout)
    assert m and int(m[1], 16) == 0x08000000, r.stdout
    raw = (fw.parent / "trix_fw.bin").read_bytes()
    sp, reset = int.from_bytes(raw[0:4], "little"), int.from_bytes(raw[4:8], "little")
    assert 0x20000000 < sp <= 0x20000000 + 128 * 1024 and 0x08000000 <= reset < 0x08100000 and reset & 1


# ---- one trit flipped ------------------------------------------------------

def flip_first_trit_in_header(header: Path) -> None:
    """Flip the first non-zero trit (+1 <-> -1) of the packed trix_trits array in place; the
    header's TRIX_MODEL_HASH stays as it was (a corrupted weight, not a different model)."""
    text = header.read_text()
    m = re.search(r"trix_trits\[[^\]]*\] = \{\s*", text)
    assert m
    pos = m.end()
    while True:
        b = re.compile(r"0x([0-9a-f]{2})").match(text, pos)
        byte = int(b[1], 16)
        for k in range(4):
            f = (byte >> (2 * k)) & 3
            if f in (1, 2):
                byte ^= 3 << (2 * k)          # 0b01 <-> 0b10
                header.write_text(text[:b.start()] + f"0x{byte:02x}" + text[b.end():])
                return
        pos = text.index(",", b.end()) + 1
        while text[pos] in " \n":
            pos += 1


@pytest.mark.qemu
@pytest.mark.parametrize("target", ["native", "cortex-m4"])
def test_firmware_with_one_trit_flipped_is_caught(host_cli, npz, build_root, tmp_path, target):
    """Same model hash in the firmware (so HELLO passes), one weight wrong: the streamed outputs
    must differ from the golden model, the first mismatch is printed, the exit status is 1."""
    from host.build import cmake_program, write_headers
    from host.model import load_model
    model = tmp_path / "model"
    write_headers(load_model(npz), model)
    flip_first_trit_in_header(model / "trix_model.h")
    b = tmp_path / "build"
    cm = cmake_program()
    for cmd in ([cm, "-S", REPO, "-B", b, f"-DTRIX_TARGET={target}", f"-DTRIX_MODEL_DIR={model}"],
                [cm, "--build", b, "--target", "trix_fw", "-j", "2"]):
        r = subprocess.run(list(map(str, cmd)), capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    r = host_cli("verify", "--qemu", "--target", target, "--model", npz, "--firmware", b / "firmware/app/trix_fw")
    assert r.returncode == 1, r.stdout + r.stderr
    m = re.search(r"mismatches +(\d+) of (\d+); first: sequence (\d+), step (\d+): expected (-?\d+) .*got (-?\d+)",
                  r.stdout)
    assert m, r.stdout
    assert int(m[1]) > 0 and int(m[5]) != int(m[6])
    assert "HELLO ok" in r.stderr            # the hash check passed: the streaming check caught it
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "differ from the golden model" in err[0] and "sequence" in err[0], r.stderr
    assert "verify: FAIL" in r.stdout


def flipped_artifact(npz, path):
    art = load_artifact(npz)
    tf = art.weights_f.copy()
    i = np.flatnonzero(tf)[0]
    tf.flat[i] = -tf.flat[i]
    save_artifact(dataclasses.replace(art, weights_f=tf), path)
    return path


@pytest.mark.qemu
def test_model_hash_mismatch_is_reported_before_streaming(host_cli, npz, build_root, tmp_path, all_targets):
    """A firmware built (properly) from a model with one trit flipped reports another hash: the
    CLI stops after HELLO with one error line; at the library level only HELLO was sent."""
    other = flipped_artifact(npz, tmp_path / "flipped.npz")
    from host.build import build
    from host.model import load_model
    other_hash = IntModel.from_artifact(load_artifact(other)).hash_hex
    fw = build("cortex-m3", load_model(other), build_root)
    r = host_cli("verify", "--qemu", "--target", "cortex-m3", "--model", npz, "--firmware", fw.elf)
    assert r.returncode == 2, r.stdout + r.stderr
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "different model" in err[0] and other_hash in err[0], r.stderr
    assert "nothing was streamed" in err[0]
    assert "HELLO ok" not in r.stderr and not re.search(r"\d+/\d+ sequences", r.stderr)
    assert "steps streamed" not in r.stdout

    # which frames went out: HELLO only (plus the sync delimiter)
    from host import verify
    from host.qemu import launch
    sent = []
    with launch("cortex-m3", fw.elf) as link:
        write = link.write

        def spy(data):
            for part in bytes(data).split(b"\x00")[:-1]:
                if part:
                    sent.append(P.decode_frame(part).type)
            write(data)
        link.write = spy
        with pytest.raises(ModelMismatch):
            verify.verify_link(link, reference(npz), verify.Options(model=str(npz)), "cortex-m3",
                               lambda m: None, window=16)
    assert sent == [P.HELLO]


# ---- faults ------------------------------------------------------------------

def children(pid):
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) == pid:
                out.append(int(d.name))
    return out


def running(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def procs_running(path_fragment):
    """PIDs whose command line mentions path_fragment (our build tree: nothing else matches)."""
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\x00", b" ").decode(errors="replace")
            except OSError:
                continue
            if path_fragment in cmd and running(int(d.name)):
                found.append((int(d.name), cmd))
    return found


def start_verify(*args, sigint_ignored=False):
    def pre():
        if sigint_ignored:     # as a non-interactive shell starts a background job
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    return subprocess.Popen([sys.executable, "-m", "host", *map(str, args)], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=pre)


def wait_for_qemu_child(p, name="qemu-system-arm", timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in children(p.pid):
            try:
                if Path(f"/proc/{c}/comm").read_text().strip() == name:
                    return c
            except OSError:
                pass
        assert p.poll() is None, p.communicate()
        time.sleep(0.05)
    raise AssertionError("no QEMU child appeared")


@pytest.mark.qemu
def test_qemu_killed_mid_run_is_a_clear_error_within_the_timeout(npz, build_root, all_targets):
    fw = elf(build_root, npz, "cortex-m3")
    # 5000 sequences: a stream of tens of seconds, so that the kill lands mid-stream however fast
    # the machine (the default 256 can be done within the second waited below)
    p = start_verify("verify", "--qemu", "--target", "cortex-m3", "--model", npz, "--firmware", fw,
                     "--timeout", "5", "--sequences", "5000")
    try:
        q = wait_for_qemu_child(p)
        time.sleep(1.0)                         # streaming by now (HELLO is answered in ms)
        os.kill(q, signal.SIGKILL)
        t0 = time.monotonic()
        out, err = p.communicate(timeout=HANG_GUARD_S)   # a hang guard, not a speed test
        took = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 2, out + err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "qemu-system-arm" in lines[0] and ("killed by signal 9" in lines[0]
                                                                  or "link lost" in lines[0]), err
    print(f"\nthe error came {took:.1f} s after the kill (--timeout 5)")
    assert not running(q) and not procs_running(str(fw))


@pytest.mark.qemu
@pytest.mark.parametrize("sigint_ignored,two", [(False, False), (True, False), (False, True)])
def test_ctrl_c_stops_qemu(npz, build_root, all_targets, sigint_ignored, two):
    """Ctrl-C ends the run and every QEMU it started: one target, or two streamed concurrently."""
    if two:
        args = ("--target", "cortex-m4,cortex-m3", "--build-dir", build_root, "--sequences", "5000")
        fws = [elf(build_root, npz, t) for t in ("cortex-m4", "cortex-m3")]
    else:
        fws = [elf(build_root, npz, "cortex-m4")]
        args = ("--target", "cortex-m4", "--firmware", fws[0], "--sequences", "5000")   # mid-stream at the Ctrl-C
    p = start_verify("verify", "--qemu", "--model", npz, *args, sigint_ignored=sigint_ignored)
    try:
        qs = [wait_for_qemu_child(p)]
        if two:
            deadline = time.monotonic() + HANG_GUARD_S
            while len(qs) < 2 and time.monotonic() < deadline:
                qs = [c for c in children(p.pid) if Path(f"/proc/{c}/comm").exists()
                      and Path(f"/proc/{c}/comm").read_text().strip() == "qemu-system-arm"]
                time.sleep(0.05)
            assert len(qs) == 2, "two QEMUs at once"
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)            # what Ctrl-C delivers to the host process
        out, err = p.communicate(timeout=HANG_GUARD_S)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, out + err
    assert "error: interrupted" in err
    deadline = time.monotonic() + HANG_GUARD_S
    while any(running(q) for q in qs) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(running(q) for q in qs) and not any(procs_running(str(f)) for f in fws)


@pytest.mark.qemu
def test_busy_port_is_replaced(host_cli, npz, build_root, all_targets):
    fw = elf(build_root, npz, "cortex-m3")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # the CLI: the requested port is taken, another one is used and verify passes
        r = host_cli("verify", "--qemu", "--target", "cortex-m3", "--model", npz, "--firmware", fw,
                 "--sequences", "4", "--qemu-port", port)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"port {port} is busy, using another one" in r.stderr
        # the race (free when checked, taken when QEMU binds): QEMU's bind error -> another port
        import host.qemu as Q
        real = Q.port_is_free
        Q.port_is_free = lambda p: True
        logs = []
        try:
            with Q.launch_system("cortex-m3", fw, first_port=port, log=logs.append) as link:
                assert link.port_number != port
                from host.client import Client
                c = Client(link)
                c.sync()
                assert c.hello().target == "cortex-m3"
        finally:
            Q.port_is_free = real
        assert any(f"could not bind port {port}" in m for m in logs), logs


def test_missing_qemu_names_the_debian_packages(host_cli, npz, tmp_path):
    """PATH without QEMU (everything else there): one error line naming the packages."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("cc", "gcc", "make", "cmake", "arm-none-eabi-gcc", "arm-none-eabi-size", "aarch64-linux-gnu-gcc"):
        found = shutil.which(tool)
        if found:
            (bindir / tool).symlink_to(found)
    env = dict(os.environ, PATH=str(bindir))
    for target in ("cortex-m4", "aarch64"):
        r = host_cli("verify", "--qemu", "--target", target, "--model", npz, env=env)
        assert r.returncode == 2, r.stdout + r.stderr
        lines = [ln for ln in r.stderr.strip().splitlines()]
        assert len(lines) == 1 and lines[0].startswith("error: missing qemu-"), r.stderr
        for pkg in ("gcc-arm-none-eabi", "libnewlib-arm-none-eabi", "qemu-system-arm", "qemu-user",
                    "gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"):
            assert pkg in lines[0]


# ---- the board path without a board ------------------------------------------

def test_board_path_through_a_pty(host_cli, npz, build_root, tmp_path):
    """The native firmware behind a pseudo-terminal we set up here, opened by pyserial by its
    device path through `verify --port`, passes the same verification."""
    from host.build import build
    from host.model import load_model
    fw = build("native", load_model(npz), build_root).elf
    master, slave = os.openpty()
    import tty
    tty.setraw(slave)
    dev = os.ttyname(slave)
    proc = subprocess.Popen([str(fw)], stdin=master, stdout=master, stderr=subprocess.PIPE)
    os.close(master)
    try:
        j = tmp_path / "board.json"
        r = host_cli("verify", "--port", dev, "--baud", "115200", "--model", npz, "--firmware", fw, "--json", j)
        assert r.returncode == 0, r.stdout + r.stderr
        rep = json.loads(j.read_text())
        (t,) = rep["targets"]
        ref = reference(npz)
        assert t["port"] == dev and t["firmware_target"] == "native"
        assert t["mismatches"] == 0 and t["steps"] == ref.expected["truth"].size
        assert t["mse_vs_truth"] == json.loads(json.dumps(t["golden_mse_vs_truth"]))
        assert "verify: PASS: 1/1" in r.stdout
    finally:
        os.close(slave)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.qemu
def test_optional_cortex_m55(host_cli, npz, build_root):
    """The optional target (QEMU mps3-an547, 32 MHz SysTick: 31.25 instructions per tick)."""
    if not (REPO / "cmake" / "toolchain-cortex-m55.cmake").is_file():
        pytest.skip("no cortex-m55 toolchain file in this checkout")
    r = host_cli("verify", "--qemu", "--target", "cortex-m55", "--model", npz, "--build-dir", build_root,
             "--sequences", "32")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "mismatches            0 (bit-exact" in r.stdout
    assert "x 31.25 instructions/tick" in r.stdout


@pytest.mark.qemu
def test_firmware_fault_is_reported_with_its_message(npz, build_root, all_targets):
    """A Cortex-M program that faults (the platform's test_fault) prints the fault report and the
    exit marker with 125 on UART0, then resets: the link stops at the marker (before the restarted
    program says anything more) with the code and the report quoted."""
    if not (REPO / "firmware" / "platform" / "cortex-m" / "tests" / "test_fault.c").is_file():
        pytest.skip("no test_fault in this checkout")
    from host.build import cmake_program
    from host.client import Client
    from host.errors import FirmwareExited
    from host.qemu import launch
    tree = elf(build_root, npz, "cortex-m3").parents[2]
    r = subprocess.run([cmake_program(), "--build", str(tree), "--target", "test_fault"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    (fault,) = [p for p in tree.rglob("test_fault") if p.is_file()]
    with pytest.raises(FirmwareExited) as e:
        with launch("cortex-m3", fault) as link:
            c = Client(link, timeout=5)
            c.sync()
            c.hello()
    msg = str(e.value)
    assert e.value.code == 125, msg
    assert msg.startswith("the firmware exited with status 125 (it printed: '"), msg
    assert re.search(r"\*\*\* trixcfc: HardFault pc=0x[0-9a-f]{8} lr=0x[0-9a-f]{8} cfsr=0x[0-9a-f]{8} "
                     r"bfar=0xf0000000\\r\\n\\r\\n\*\*\* trixcfc: exit 125'\)$", msg), msg


# ---- a device reset mid-stream ---------------------------------------------------------------

def _two_sequence_reference(npz, n):
    """Test sequences joined in pairs: T = 100, so each sequence takes two STEP requests (64 + 36
    steps) and a reset before the second one lands in the middle of a sequence."""
    from host.verify import Reference
    from cfcbase.cell import float_outputs
    ref = reference(npz)
    x = np.concatenate([ref.x[0:2 * n:2], ref.x[1:2 * n:2]], axis=1)
    t = ref.expected["truth"]
    truth = np.concatenate([t[0:2 * n:2], t[1:2 * n:2]], axis=1)
    xq = quantize_input(x)
    ys, hs = run_golden(ref.model, xq, return_states=True)
    return Reference(ref.art, ref.model, x, xq, ys, hs, "joined test sequences", saturation=dict(ref.saturation),
                     head=ref.head, expected=dict(ref.expected, truth=truth, float=float_outputs(ref.art, x), baselines={}))


class _Interrupting:
    """Wraps a Link: just before the `at`-th STEP frame is written, calls `fault()`."""

    def __init__(self, link, at, fault):
        self._link, self._at, self._fault, self.steps, self.fired = link, at, fault, 0, False

    def write(self, data):
        if len(data) > 1 and P.decode_frame(data[:-1]).type == P.STEP:
            self.steps += 1
            if self.steps == self._at:
                self._fault()
                self.fired = True
        self._link.write(data)

    def __getattr__(self, name):
        return getattr(self._link, name)


def _verify_with_fault(npz, build_root, target, fault, window, at=12, n=10):
    from host import verify
    from host.qemu import launch
    ref = _two_sequence_reference(npz, n)
    log = []
    with launch(target, elf(build_root, npz, target)) as link:
        w = _Interrupting(link, at, lambda: fault(link))
        try:
            run = verify.verify_link(w, ref, verify.Options(timeout=3.0, bench_steps=10), target, log.append, window)
        finally:
            assert w.fired
        return verify.summarise(target, run, ref, emulated=True), log


@pytest.mark.qemu
@pytest.mark.parametrize("window", [1, 16])
def test_cortex_m4_reset_mid_sequence_is_noticed_and_the_sequence_runs_again(npz, build_root, all_targets, window):
    """QEMU's monitor resets the guest (system_reset) just before sequence 5's second STEP: the
    state of its first 64 steps is gone. verify notices, runs sequence 5 again from h = 0,
    continues, and counts every output exactly once: 0 mismatches over all 10 x 100 steps."""
    def reset(link):
        assert link.monitor.command("system_reset") == ""
    rec, log = _verify_with_fault(npz, build_root, "cortex-m4", reset, window)
    assert rec["steps"] == 1000 and rec["mismatches"] == 0, rec["first_mismatch"]
    if window == 1:      # strict request/reply: the reset lands exactly between the two STEPs
        [e] = rec["state_losses"]
        assert (e["sequence"], e["step"]) == (5, 64), e
        assert any("the device lost its state at sequence 5, step 64" in s for s in log), log
    else:                # 16 requests in flight, the 12th STEP among the first: in sequences 0..5
        assert len(rec["state_losses"]) <= 1
        for e in rec["state_losses"]:
            assert 0 <= e["sequence"] <= 5


@pytest.mark.qemu
def test_native_firmware_killed_mid_sequence_stops_naming_the_step(npz, build_root, all_targets):
    """The native firmware killed before sequence 5's second STEP: verify stops with one error
    naming the sequence and step, and counts nothing (the link is gone, no resume)."""
    from host.errors import StateLost

    def kill(link):
        os.kill(link.child.proc.pid, signal.SIGKILL)
        link.child.proc.wait()
    with pytest.raises(StateLost, match=r"^native: the device stopped following at sequence 5, step 64 \(STEP: "
                                        r".*\); 5 sequences before it were received, nothing after it is counted"):
        _verify_with_fault(npz, build_root, "native", kill, 1)


@pytest.mark.qemu
def test_soak_prints_rss_and_stack_high_water(host_cli, npz, build_root, all_targets, tmp_path):
    """A short soak: --sequences beyond the test set repeats it; the host's RSS and the
    firmware's painted-stack high-water mark are printed and in the JSON report."""
    j = tmp_path / "soak.json"
    r = host_cli("verify", "--qemu", "--target", "cortex-m4", "--model", npz, "--firmware",
                 elf(build_root, npz, "cortex-m4"), "--sequences", 300, "--json", j)
    assert r.returncode == 0, r.stdout + r.stderr
    [t] = json.loads(j.read_text())["targets"]
    assert t["steps"] == 300 * 50 and t["mismatches"] == 0 and t["state_losses"] == []
    sk = t["soak"]
    assert sk["stack_size"] == 2048
    assert 100 < sk["stack_high_water_start"] <= sk["stack_high_water_end"] < 2048
    assert 10 * 2**20 < sk["host_rss_start"] and 10 * 2**20 < sk["host_rss_end"]
    assert "cycled to 300 sequences" in r.stderr
    m = re.search(r"stack high-water      (\d+) B after the first sequence, (\d+) B at the end, of 2048 B", r.stdout)
    assert m and int(m[2]) == sk["stack_high_water_end"], r.stdout
    assert re.search(r"host RSS              [\d.]+ MiB at the start of the stream, [\d.]+ MiB at its end", r.stdout)
