"""A TCP forwarder that a test can cut: an endpoint that stops answering part-way through a run
while the server behind it (and its data) lives on for the run that resumes."""

from __future__ import annotations

import socket
import threading
from contextlib import suppress
from typing import Optional

HOST = "127.0.0.1"


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to ``target_port``; :meth:`cut` closes the listener and
    every open connection (new ones are refused)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server((HOST, 0))
        self.port = int(self._listener.getsockname()[1])
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._cut = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> TcpProxy:
        self._thread = threading.Thread(target=self._accept, daemon=True, name="tcp-proxy")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()

    def _accept(self) -> None:
        while not self._cut.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((HOST, self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._cut.is_set():
                    client.close()
                    upstream.close()
                    return
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Stop answering: the port refuses connections, open ones are reset."""
        self._cut.set()
        with suppress(OSError):
            self._listener.close()
        with self._lock:
            for s in self._conns:
                with suppress(OSError):
                    s.close()
            self._conns.clear()
