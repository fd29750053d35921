"""Byte links to the firmware, all through pyserial:

- `open_url(url)`: `serial_for_url` on a device path (a board: /dev/ttyACM0, /dev/ttyUSB0, a
  pseudo-terminal) or `socket://127.0.0.1:PORT` (QEMU's `-serial tcp:...,server=on,wait=on`).
- `PtyFirmware`: native / aarch64. The firmware process (`trix_fw`, or `qemu-aarch64 trix_fw`)
  gets the master side of a fresh pseudo-terminal as its stdin/stdout; the host opens the slave
  by its device path (/dev/pts/N) with pyserial, exactly as it opens a board. So every verify
  of native/aarch64 also exercises the real-board path.

A `Link` turns pyserial / OS errors into host.errors.LinkClosed and, when it owns a process,
reports that process's exit (status and stderr) instead of a bare timeout.
"""
from __future__ import annotations

import os
import termios
import tty

import serial

from .errors import LinkClosed
from .process import Child

POLL_S = 0.02       # pyserial read timeout: how often a waiting reader checks the clock / process


class Link:
    """A pyserial port plus, optionally, the process on the other end."""

    def __init__(self, port, description: str, child: Child | None = None):
        self.port = port
        self.description = description
        self.child = child
        self._closed = False

    def read(self, n: int) -> bytes:
        try:
            waiting = self.port.in_waiting
            data = self.port.read(min(n, waiting) if waiting else 1)
        except (serial.SerialException, OSError) as e:
            self.alive(grace=1.0)
            raise LinkClosed(f"{self.description}: link lost ({e})") from e
        return data

    def write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except (serial.SerialException, OSError) as e:
            self.alive(grace=1.0)
            raise LinkClosed(f"{self.description}: write failed ({e})") from e

    def alive(self, grace: float = 0.0) -> None:
        """LinkClosed if the process behind the link has exited (waiting up to `grace` seconds
        for it: when the link breaks first, the process is usually still on its way out)."""
        if self.child is None:
            return
        if self.child.poll() is None and grace > 0:
            try:
                self.child.proc.wait(grace)
            except Exception:   # noqa: BLE001 - still running: report the link error instead
                pass
        if self.child.poll() is not None:
            raise LinkClosed(f"{self.description}: {self.child.describe_exit()}")

    def drain(self) -> bytes:
        """Discard whatever is waiting in the input buffer."""
        try:
            self.port.reset_input_buffer()
        except Exception:   # noqa: BLE001 - not every backend supports it
            pass
        return b""

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.port.close()
        except Exception:   # noqa: BLE001
            pass
        if self.child is not None:
            self.child.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_url(url: str, baud: int = 115200, description: str | None = None, child: Child | None = None) -> Link:
    """A device path or a pyserial URL (socket://host:port, ...)."""
    try:
        port = serial.serial_for_url(url, baudrate=baud, timeout=POLL_S, write_timeout=10)
    except (serial.SerialException, OSError, ValueError) as e:
        raise LinkClosed(f"cannot open {url}: {e}") from e
    return Link(port, description or url, child)


class PtyFirmware:
    """Runs `argv` (the firmware speaking the protocol on stdin/stdout) behind a pseudo-terminal.

    `device` is the slave's path, opened like a board's serial device. The parent keeps its own
    slave descriptor open until close(), so the firmware never sees a hang-up before the host
    has opened the device."""

    def __init__(self, argv):
        master, slave = os.openpty()
        try:
            tty.setraw(slave)                      # no echo, no CR/LF mapping: a byte link
            attrs = termios.tcgetattr(slave)
            attrs[3] &= ~termios.ECHO
            termios.tcsetattr(slave, termios.TCSANOW, attrs)
            self.device = os.ttyname(slave)
            self.child = Child(argv, stdin=master, stdout=master)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        os.close(master)                           # the child holds its copy
        self._slave = slave

    def open(self, baud: int = 115200) -> Link:
        return open_url(self.device, baud, description=f"{self.child.name} on {self.device}", child=self.child)

    def close(self) -> None:
        if self._slave is not None:
            try:
                os.close(self._slave)
            except OSError:
                pass
            self._slave = None
        self.child.stop()


def open_pty_firmware(argv, baud: int = 115200) -> Link:
    """Start the firmware behind a pty and return a Link to its device path; closing the Link
    stops the process."""
    pty = PtyFirmware(argv)
    try:
        link = pty.open(baud)
    except BaseException:
        pty.close()
        raise
    link_close = link.close

    def close():
        try:
            link_close()
        finally:
            pty.close()
    link.close = close
    return link
