"""The host's end of a run's report channel (the protocol is :mod:`sandbox.wire`).

A :class:`ReportChannel` is a socket pair: the sandbox's end is handed to the run as a file
descriptor (bubblewrap passes it on, the warm pool sends it to its server).  A
:class:`ListeningChannel` is a Unix socket in a folder the run's container mounts: the first
connection (the supervisor's, made before any submission code runs) is accepted and the
socket closed at once, so nothing else can ever connect.  Either way a thread sends the go
and the nonce and reads the report into the run's output folder while the run goes on.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from pathlib import Path
from typing import Any

from sandbox import wire

#: After the sandbox has ended, how long its report may still take to arrive.
_FINISH_S = 30.0


class ReportChannel:
    """One run's channel, handed to the sandbox as the descriptor :attr:`sandbox_fd`."""

    def __init__(self, output_dir: Path, nonce: str) -> None:
        self.output_dir = output_dir
        self.nonce = nonce
        self._host, self._sandbox = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.header: dict[str, Any] | None = None
        #: Whether the supervisor said it had the go: before it does, no submission code
        #: can have run, so a sandbox that ends without saying so failed on its own.
        self.started = False
        #: Why no report came, when one started but broke off or broke the format.
        self.error: str | None = None
        self._thread: threading.Thread | None = None

    @property
    def sandbox_fd(self) -> int:
        return self._sandbox.fileno()

    def start(self) -> None:
        """Begin the exchange (call once the sandbox holds its end)."""
        self._thread = threading.Thread(target=self._exchange, args=(self._host,), daemon=True)
        self._thread.start()

    def handed_over(self) -> None:
        """The sandbox has its own copy of its end now; the host's copy goes, so that the
        channel closes when the run ends."""
        self._sandbox.close()

    def _exchange(self, connection: socket.socket) -> None:
        try:
            wire.send_go(connection, self.nonce)
        except OSError:
            return  # the run ended before it could start
        try:
            if connection.recv(1) != wire.STARTED:
                return  # the sandbox ended before its supervisor started
            self.started = True
            if not connection.recv(len(wire.MAGIC), socket.MSG_PEEK):
                return  # the run ended without a report
            self.header = wire.receive_report(connection, self.output_dir)
        except (OSError, wire.ChannelError) as error:
            self.error = str(error)

    def finish(self) -> dict[str, Any] | None:
        """Wait for the report (the run has ended); the header, or None without one."""
        # A sandbox that never started never took its end: the host's copy goes, so that
        # the exchange sees the channel close instead of waiting out its time.
        self._sandbox.close()
        if self._thread is not None:
            self._thread.join(_FINISH_S)
        self.close()
        if self._thread is not None:
            self._thread.join()
        return self.header

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._host.shutdown(socket.SHUT_RDWR)
        self._host.close()
        self._sandbox.close()


class ListeningChannel(ReportChannel):
    """One run's channel as a Unix socket ``folder/channel.sock`` (for containers)."""

    SOCKET_NAME = "channel.sock"

    def __init__(self, output_dir: Path, nonce: str, *, folder: Path, uid: int) -> None:
        super().__init__(output_dir, nonce)
        self._sandbox.close()
        self.folder = folder
        self.path = folder / self.SOCKET_NAME
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self.path))
        self._listener.listen(1)
        # Only the container's identity may connect; a grader that is not root cannot give
        # it the socket, but the folder it lies in is reachable by no one else.
        if os.geteuid() == 0:
            os.chown(self.path, uid, -1)
            os.chmod(self.path, 0o600)
        else:
            os.chmod(self.path, 0o666)
        self._accepted = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        try:
            connection, _ = self._listener.accept()
        except OSError:
            return  # closed: the container ended before it connected
        finally:
            self._close_listener()
        self._host.close()
        self._host = connection
        self._exchange(connection)

    def _close_listener(self) -> None:
        self._listener.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._close_listener()
        super().close()
