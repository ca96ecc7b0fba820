"""A small TCP forwarding proxy that gives the server other loopback sources.

The server sees the proxy's outbound socket as the client, and that socket is
bound to ``source`` (any address of 127.0.0.0/8, or ::1), so one test process
can appear to connect from 127.0.0.2, 127.0.0.3, ...  Bytes pass through
untouched: TLS is negotiated end to end between the client and the server.
Nothing outside the loopback network is ever used.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from types import TracebackType
from typing import Self

LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")


def _check_loopback(addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(addr)
    if not (ip in LOOPBACK_V4 or ip == ipaddress.ip_address("::1")):
        raise ValueError(f"{addr} is not a loopback address; the proxy only uses 127.0.0.0/8 and ::1")
    return ip


class Proxy:
    """Listen on a free port of 127.0.0.1 and forward to target from source."""

    def __init__(self, target_port: int, source: str, *, target_host: str = "127.0.0.1",
                 listen_host: str = "127.0.0.1") -> None:
        self.source = str(_check_loopback(source))
        self.target_host = str(_check_loopback(target_host))
        _check_loopback(listen_host)
        self.target_port = target_port
        family = socket.AF_INET6 if ":" in listen_host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((listen_host, 0))
        self._listener.listen(64)
        self.host = listen_host
        self.port: int = self._listener.getsockname()[1]
        self._closed = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            family = socket.AF_INET6 if ":" in self.target_host else socket.AF_INET
            upstream = socket.socket(family, socket.SOCK_STREAM)
            try:
                upstream.bind((self.source, 0))
                upstream.connect((self.target_host, self.target_port))
            except OSError:
                client.close()
                upstream.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                try:
                    s.close()
                except OSError:
                    pass
            self._sockets.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
