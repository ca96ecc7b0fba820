"""A raw-protocol PostgreSQL client that speaks SCRAM-SHA-256 itself.

libpq hides what the server sends during authentication; this client keeps
every message (type and payload) so tests can compare, byte for byte, what a
right and a wrong password get back.  It implements just enough of the v3
protocol: SSLRequest, StartupMessage, SASL (RFC 5802/7677) and reading
messages until ReadyForQuery, an ErrorResponse or end of stream.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import ssl
import struct
import time
from dataclasses import dataclass, field

AUTH_OK = 0
AUTH_SASL = 10
AUTH_SASL_CONTINUE = 11
AUTH_SASL_FINAL = 12


@dataclass
class Transcript:
    """Everything the server sent, in order, and how long it took."""

    messages: list[tuple[bytes, bytes]] = field(default_factory=list)
    seconds: float = 0.0

    def raw(self) -> bytes:
        return b"".join(t + struct.pack("!I", len(p) + 4) + p for t, p in self.messages)

    def auth_codes(self) -> list[int]:
        return [struct.unpack("!I", p[:4])[0] for t, p in self.messages if t == b"R"]

    def error_fields(self) -> dict[str, str]:
        for t, p in self.messages:
            if t == b"E":
                out = {}
                for part in p.rstrip(b"\0").split(b"\0"):
                    if part:
                        out[chr(part[0])] = part[1:].decode()
                return out
        return {}

    @property
    def authenticated(self) -> bool:
        return AUTH_OK in self.auth_codes()


def _recv_exact(sock: socket.socket | ssl.SSLSocket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def _read_message(sock: socket.socket | ssl.SSLSocket) -> tuple[bytes, bytes]:
    head = _recv_exact(sock, 5)
    (length,) = struct.unpack("!I", head[1:])
    return head[:1], _recv_exact(sock, length - 4)


def _send(sock: socket.socket | ssl.SSLSocket, mtype: bytes, payload: bytes) -> None:
    sock.sendall(mtype + struct.pack("!I", len(payload) + 4) + payload)


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def connect(host: str, port: int, user: str, password: str, database: str, *,
            cafile: str | None = None, server_hostname: str | None = None,
            timeout: float = 10.0) -> Transcript:
    """Authenticate once and return what the server sent.

    With ``cafile`` the connection is upgraded to TLS first (certificate and
    host name verified).  The password goes only into the SCRAM proof.
    """
    t = Transcript()
    start = time.perf_counter()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    raw = socket.socket(family, socket.SOCK_STREAM)
    raw.settimeout(timeout)
    raw.connect((host, port))
    sock: socket.socket | ssl.SSLSocket = raw
    try:
        if cafile is not None:
            raw.sendall(struct.pack("!II", 8, 80877103))
            if _recv_exact(raw, 1) != b"S":
                raise ConnectionError("the server refused TLS")
            ctx = ssl.create_default_context(cafile=cafile)
            sock = ctx.wrap_socket(raw, server_hostname=server_hostname or host)
        params = b"user\0" + user.encode() + b"\0database\0" + database.encode() + b"\0\0"
        sock.sendall(struct.pack("!II", len(params) + 8, 196608) + params)

        nonce = base64.b64encode(os.urandom(18)).decode()
        client_first_bare = f"n=,r={nonce}"
        server_first = ""
        auth_message = b""
        salted = b""
        while True:
            try:
                mtype, payload = _read_message(sock)
            except (EOFError, OSError):
                break
            t.messages.append((mtype, payload))
            if mtype == b"E" or mtype == b"Z":
                break
            if mtype != b"R":
                continue
            (code,) = struct.unpack("!I", payload[:4])
            if code == AUTH_SASL:
                mechs = payload[4:].split(b"\0")
                if b"SCRAM-SHA-256" not in mechs:
                    raise ConnectionError("server offers no SCRAM-SHA-256")
                first = ("n,," + client_first_bare).encode()
                _send(sock, b"p", b"SCRAM-SHA-256\0" + struct.pack("!I", len(first)) + first)
            elif code == AUTH_SASL_CONTINUE:
                server_first = payload[4:].decode()
                attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
                if not attrs["r"].startswith(nonce):
                    raise ConnectionError("server nonce does not extend ours")
                salt = base64.b64decode(attrs["s"])
                salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, int(attrs["i"]))
                client_key = _hmac(salted, b"Client Key")
                stored_key = hashlib.sha256(client_key).digest()
                final_without_proof = f"c=biws,r={attrs['r']}"
                auth_message = f"{client_first_bare},{server_first},{final_without_proof}".encode()
                signature = _hmac(stored_key, auth_message)
                proof = bytes(a ^ b for a, b in zip(client_key, signature))
                final = f"{final_without_proof},p={base64.b64encode(proof).decode()}"
                _send(sock, b"p", final.encode())
            elif code == AUTH_SASL_FINAL:
                server_key = _hmac(salted, b"Server Key")
                expected = base64.b64encode(_hmac(server_key, auth_message)).decode()
                if payload[4:].decode() != f"v={expected}":
                    raise ConnectionError("server signature does not verify")
    finally:
        t.seconds = time.perf_counter() - start
        try:
            _send(sock, b"X", b"")
        except OSError:
            pass
        sock.close()
    return t
