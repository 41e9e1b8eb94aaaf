"""A TCP proxy in front of a local server that a test can cut: the endpoint becomes unreachable.

Fault tests point a run's endpoint (S3 or DynamoDB) at the proxy, and :meth:`TcpProxy.cut` closes
its listening socket and every connection it forwards: requests in flight fail as a dropped
connection does, new ones are refused as when nothing listens. The server behind keeps its data,
so a later run can go to it directly. Standard library only; binds to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any, Optional
from urllib.parse import urlsplit

HOST = "127.0.0.1"


class TcpProxy:
    def __init__(self, upstream_url: str) -> None:
        parts = urlsplit(upstream_url)
        self.upstream = (parts.hostname or HOST, int(parts.port or 80))
        self._listener = socket.create_server((HOST, 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._cut = threading.Event()
        self._accepting = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)
        self._accepting.start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _accept(self) -> None:
        while not self._cut.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed: cut
            try:
                upstream = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                conn.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._cut.is_set():
                    conn.close()
                    upstream.close()
                    return
                self._sockets.update((conn, upstream))
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        """From now on nothing answers at :attr:`url`; open connections are dropped."""
        self._cut.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: Optional[Any]) -> None:
        self.cut()
