"""The protocol client: HELLO, RESET, STEP (batched, optionally pipelined), BENCH, LOGITS, DECIDE."""
from __future__ import annotations

import time
from collections import deque

import numpy as np

from . import protocol as P
from .errors import (BadFrame, LinkClosed, LinkError, NoReply, ProtocolError, StateLost,
                     TruncatedFrame)

# First wait for the answer to HELLO before it is sent again (then 2x, 4x, ... up to the timeout).
HELLO_FIRST_WAIT = 0.25


class Client:
    """Requests over a Link (host.transport). `timeout` bounds the wait for each reply.

    `window` is how many requests may be in flight: 1 = strict request/reply (safe for any
    board); more keeps an emulated link busy (QEMU's UART and a pty buffer the bytes, so
    nothing is lost)."""

    def __init__(self, link, timeout: float = 10.0, window: int = 1):
        self.link = link
        self.timeout = timeout
        self.window = max(1, int(window))
        self.reader = P.FrameReader(link.read, alive=link.alive)
        self._seq = 0
        self.hello_info: P.Hello | None = None
        self.frames_sent = 0
        self.hello_attempts = 0

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFF
        return self._seq

    def _send(self, rtype: int, payload: bytes = b"") -> int:
        seq = self._next_seq()
        self.link.write(P.encode_frame(rtype, seq, payload))
        self.frames_sent += 1
        return seq

    def _recv(self, rtype: int, seq: int) -> bytes:
        return P.check_reply(self.reader.read_frame(self.timeout), rtype, seq)

    def request(self, rtype: int, payload: bytes = b"") -> bytes:
        return self._recv(rtype, self._send(rtype, payload))

    def sync(self) -> None:
        """A lone delimiter ends any partial frame the firmware may hold (an empty frame is
        ignored), then stale input is dropped."""
        self.link.write(b"\x00")
        self.link.drain()
        self.reader.discard()

    def hello(self) -> P.Hello:
        """The handshake, which is also the wait for the firmware's greeting: nothing is streamed
        before the firmware has answered HELLO. Bytes sent before a UART is enabled are lost (a
        board just reset, QEMU's STM32 USART before CR1.UE|RE), so an unanswered HELLO is sent
        again, after HELLO_FIRST_WAIT s and then twice as long each time, each preceded by a lone
        0x00 that ends whatever part of an earlier one the firmware holds, until `timeout`
        seconds have passed; the error then names the attempts and the wait. Frames damaged by
        lost bytes and replies with another seq (noise, a reply to an earlier attempt or to an
        earlier session's request) are skipped here, and only here."""
        t0 = time.monotonic()
        deadline = t0 + self.timeout
        wait = min(HELLO_FIRST_WAIT, self.timeout)
        attempts = 0
        frame = None
        stray = []                                  # well-formed frames that did not answer this HELLO
        while frame is None:
            if attempts:
                self.link.write(b"\x00")
            seq = self._send(P.HELLO)
            attempts += 1
            until = min(deadline, time.monotonic() + wait)
            wait *= 2
            while frame is None:
                try:
                    f = self.reader.read_frame(max(0.0, until - time.monotonic()))
                except (NoReply, TruncatedFrame) as e:
                    if time.monotonic() < deadline:
                        self.reader.discard()
                        break                       # send HELLO again
                    if isinstance(e, TruncatedFrame):
                        raise
                    if stray:
                        t, q = stray[-1]
                        raise ProtocolError(
                            f"{len(stray)} well-formed replies but none to HELLO from "
                            f"{getattr(self.link, 'description', 'the link')} within {self.timeout:g} s "
                            f"({attempts} HELLO attempts; the last reply: type 0x{t:02x} with seq {q}, the last "
                            f"HELLO had seq {seq}): the device answers with the wrong sequence number") from e
                    raise NoReply(f"no reply to HELLO from {getattr(self.link, 'description', 'the link')} "
                                  f"within {self.timeout:g} s ({attempts} HELLO attempts, the first waited "
                                  f"{min(HELLO_FIRST_WAIT, self.timeout):g} s, each next twice as long): is "
                                  f"trix_fw running there (right baud rate, not a console)?") from e
                except BadFrame:
                    continue                        # damaged by bytes lost before the link was up
                if f.seq == seq and f.type in (P.HELLO | P.REPLY_FLAG, P.ERROR):
                    frame = f
                else:
                    stray.append((f.type, f.seq))
        self.hello_attempts = attempts
        payload = P.check_reply(frame, P.HELLO, seq)
        P.check_version(payload)
        h = P.parse_hello(payload)
        if h.proto_version != P.PROTO_VERSION:
            raise ProtocolError(f"the firmware speaks protocol version {h.proto_version}; this host speaks "
                                f"{P.PROTO_VERSION}")
        if h.q_format != P.Q_FORMAT:
            raise ProtocolError(f"the firmware uses Q{h.q_format} inputs/outputs, expected Q{P.Q_FORMAT}")
        if not 1 <= h.max_steps:
            raise ProtocolError(f"HELLO reports max_steps {h.max_steps}")
        self.hello_info = h
        return h

    def reset(self) -> None:
        self.request(P.RESET)

    def step(self, x_q14) -> np.ndarray:
        """One STEP request: x int16 [n, I] (n <= max_steps) -> y int16 [n]."""
        x = np.asarray(x_q14, dtype=np.int16)
        n = x.shape[0]
        return np.array(P.parse_step(self.request(P.STEP, x.astype("<i2").tobytes()), n), np.int16)

    def bench(self, n: int) -> P.Bench:
        """BENCH n steps from h = 0 (RESET first, so the figure does not depend on what ran
        before); the firmware leaves the state reset."""
        self.reset()
        b = P.parse_bench(self.request(P.BENCH, P.bench_payload(n)))
        if b.n != n:
            raise ProtocolError(f"BENCH reply for {b.n} steps, asked {n}")
        return b

    def logits(self) -> P.Logits:
        """LOGITS: the logits and class of the window since the last RESET (a classifier)."""
        return P.parse_logits(self.request(P.LOGITS))

    def run_stream(self, x_q14, every: int, classes: int, progress=None):
        """A continuous stream x int16 [T, I] (a classifier): one RESET, then STEPs and a DECIDE after
        every ``every`` steps, pipelined; the state is never reset. -> (logits int64 [D, K], class
        int64 [D], the steps each decision pooled int64 [D]) for D = T // every (steps after the
        last decision are not sent). A device that loses its state here is not re-run: its
        decisions simply differ from the golden model's."""
        x = np.asarray(x_q14, dtype=np.int16)
        T, I = x.shape
        h = self.hello_info or self.hello()
        if I != h.inputs:
            raise ProtocolError(f"inputs have I={I}, the firmware I={h.inputs}")
        chunk = max(1, min(P.MAX_STEPS, h.max_steps, P.MAX_PAYLOAD // (2 * I)))
        D = T // every
        requests = [(P.RESET, b"", None)]
        for d in range(D):
            for t0 in range(d * every, (d + 1) * every, chunk):
                t1 = min((d + 1) * every, t0 + chunk)
                requests.append((P.STEP, x[t0:t1].astype("<i2").tobytes(), None))
            requests.append((P.DECIDE, b"", d))
        logits = np.zeros((D, classes), np.int64)
        cls, steps = np.full(D, -1, np.int64), np.zeros(D, np.int64)
        try:
            for rtype, d, payload in self._pipelined(requests):
                if rtype == P.DECIDE:
                    lg = P.parse_logits(payload)
                    if len(lg.logits) != classes:
                        raise ProtocolError(f"DECIDE reply with {len(lg.logits)} logits; the model has {classes} "
                                            "classes")
                    logits[d], cls[d], steps[d] = lg.logits, lg.cls, lg.steps
                    if progress:
                        progress(d + 1, D)
        except _RequestFailed as f:
            raise f.error
        return logits, cls, steps

    def run_sequences(self, x_q14, progress=None, expected=None, max_state_losses: int = 8,
                      classes: int = 0, expected_logits=None, lengths=None) -> np.ndarray:
        """x int16 [N, T, I] -> y int16 [N, T]: per sequence RESET, then STEPs of up to
        max_steps steps, `window` requests in flight. With `classes` K > 0 (a classifier) each
        sequence is a window: a LOGITS request follows its STEPs, and the replies are kept in
        self.window_logits (int32 [N, K]), self.window_class and self.window_steps ([N]);
        `expected_logits` (the golden logits [N, K]) then notices a lost state as `expected` does.
        `lengths` (int [N]): each sequence's own steps, the first of its T (the rest of y stays 0).

        With `expected` (the golden outputs [N, T]) a device that loses its state mid-stream (a
        reset: brown-out, watchdog, the reset button) is noticed and the run resumes: a reply
        that differs from `expected`, a lost or out-of-step reply or an error reply stops the
        stream; the host resynchronises (HELLO again), runs the interrupted sequence again from
        h = 0 with strict request/reply, and continues after it. If that re-run is bit-exact the
        first run was computed from a lost state: recorded in `state_losses` and counted neither
        as a match nor as a mismatch. If it differs too, the outputs are the device's: they are
        kept (so counted as mismatches) and mismatches are no longer taken for state losses. A
        closed link, or more than `max_state_losses` losses, ends the run with StateLost naming
        the sequence and step."""
        x = np.asarray(x_q14, dtype=np.int16)
        N, T, I = x.shape
        h = self.hello_info or self.hello()
        if I != h.inputs:
            raise ProtocolError(f"inputs have I={I}, the firmware I={h.inputs}")
        y = np.zeros((N, T), np.int16)
        self.classes = int(classes)
        self.window_logits = np.zeros((N, max(self.classes, 1)), np.int64)
        self.window_class = np.full(N, -1, np.int64)
        self.window_steps = np.zeros(N, np.int64)
        self._expected_logits = expected_logits
        self.state_losses = []
        self._mismatch_is_loss = expected is not None
        self._lengths = None if lengths is None else np.asarray(lengths, np.int64)
        first = 0
        while first < N:
            try:
                self._stream(x, y, first, expected, progress)
                break
            except _Lost as lost:
                s, t, why = lost.args
                if expected is None or isinstance(lost.cause, LinkClosed):
                    raise StateLost(f"the device stopped following at sequence {s}, step {t} ({why}); "
                                    f"{s} sequences before it were received, nothing after it is counted") \
                        from lost.cause
                if len(self.state_losses) >= max_state_losses:
                    raise StateLost(f"the device lost its state again at sequence {s}, step {t} ({why}), "
                                    f"{len(self.state_losses)} times already; stopped") from lost.cause
                self.sync()
                self.hello_info = None
                self.hello()
                saved = self.window
                self.window = 1
                try:
                    self._stream(x[: s + 1], y, s, None, None)
                finally:
                    self.window = saved
                same = np.array_equal(y[s], expected[s]) and (
                    expected_logits is None or np.array_equal(self.window_logits[s], expected_logits[s]))
                if not same:
                    self._mismatch_is_loss = False      # the device's own outputs: counted
                else:
                    self.state_losses.append({"sequence": s, "step": t, "what": why})
                if progress:
                    progress(s + 1, N)
                first = s + 1
        return y

    def _pipelined(self, requests):
        """The replies to ``requests`` [(type, payload, tag)] in their order, with up to `window`
        requests in flight: yields (type, tag, reply payload). A request that cannot be sent or
        whose reply is lost or malformed raises _RequestFailed with its type and tag."""
        inflight = deque()
        i = 0
        while i < len(requests) or inflight:
            while i < len(requests) and len(inflight) < self.window:
                rtype, payload, tag = requests[i]
                try:
                    inflight.append((rtype, self._send(rtype, payload), tag))
                except LinkError as e:
                    raise _RequestFailed(rtype, tag, e) from e
                i += 1
            rtype, seq, tag = inflight.popleft()
            try:
                reply = self._recv(rtype, seq)
            except (LinkError, ProtocolError) as e:
                raise _RequestFailed(rtype, tag, e) from e
            yield rtype, tag, reply

    def _stream(self, x, y, first, expected, progress):
        """Sequences first..N-1 of x into y, pipelined; _Lost(sequence, step, why) on a sign
        that the device's state is not the one the host assumes."""
        N, T, I = x.shape
        h = self.hello_info
        chunk = max(1, min(P.MAX_STEPS, h.max_steps, P.MAX_PAYLOAD // (2 * I)))
        requests = []          # (type, payload, where the reply goes)
        for s in range(first, N):
            Ts = T if self._lengths is None else int(self._lengths[s])
            requests.append((P.RESET, b"", (s, 0, 0)))
            for t0 in range(0, Ts, chunk):
                t1 = min(Ts, t0 + chunk)
                requests.append((P.STEP, x[s, t0:t1].astype("<i2").tobytes(), (s, t0, t1)))
            if self.classes:
                requests.append((P.LOGITS, b"", (s, Ts, Ts)))
        done_seq = -1
        replies = self._pipelined(requests)
        while True:
            try:
                rtype, (s, t0, t1), payload = next(replies)
            except StopIteration:
                break
            except _RequestFailed as f:
                raise _Lost(f.tag[0], f.tag[1], f"{P.REQUEST_NAMES[f.rtype]}: {f.error}", cause=f.error) from f.error
            if rtype == P.LOGITS:
                try:
                    lg = P.parse_logits(payload)
                except ProtocolError as e:
                    raise _Lost(s, t0, f"LOGITS: {e}", cause=e) from e
                if len(lg.logits) != self.classes:
                    raise ProtocolError(f"LOGITS reply with {len(lg.logits)} logits; the model has "
                                        f"{self.classes} classes")
                self.window_logits[s] = lg.logits
                self.window_class[s], self.window_steps[s] = lg.cls, lg.steps
                want = self._expected_logits
                if want is not None and expected is not None and self._mismatch_is_loss \
                        and not np.array_equal(self.window_logits[s], want[s]):
                    k = int(np.argmax(self.window_logits[s] != want[s]))
                    raise _Lost(s, t0, f"logit {k} {int(self.window_logits[s, k])} where the golden model gives "
                                      f"{int(want[s, k])}")
                if progress and s != done_seq:
                    done_seq = s
                    progress(s + 1, N)
            if rtype == P.STEP:
                y[s, t0:t1] = P.parse_step(payload, t1 - t0)
                if expected is not None and self._mismatch_is_loss:
                    bad = np.flatnonzero(y[s, t0:t1] != expected[s, t0:t1])
                    if len(bad):
                        t = t0 + int(bad[0])
                        raise _Lost(s, t, f"output {int(y[s, t])} where the golden model gives "
                                          f"{int(expected[s, t])}")
                if t1 == T and progress and s != done_seq and not self.classes:
                    done_seq = s
                    progress(s + 1, N)


class _RequestFailed(Exception):
    def __init__(self, rtype, tag, error):
        super().__init__(rtype, tag, error)
        self.rtype, self.tag, self.error = rtype, tag, error


class _Lost(Exception):
    def __init__(self, s, t, why, cause=None):
        super().__init__(s, t, why)
        self.cause = cause
