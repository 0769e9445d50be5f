"""Length-prefixed frames over a stream socket, optionally carrying file descriptors (stdlib only)."""

from __future__ import annotations

import socket
import struct

_HDR = struct.Struct("!I")
MAX_FRAME = 1 << 30


def send(sock: socket.socket, data: bytes, fds: list[int] | tuple[int, ...] = ()) -> None:
    header = _HDR.pack(len(data))
    if fds:
        socket.send_fds(sock, [header], list(fds))
        sock.sendall(data)
    else:
        sock.sendall(header + data)


def _exact(sock: socket.socket, n: int, head: bytes = b"") -> bytes | None:
    chunks, have = [head], len(head)
    while have < n:
        chunk = sock.recv(min(n - have, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        have += len(chunk)
    return b"".join(chunks)


def recv(sock: socket.socket, maxfds: int = 0, limit: int = MAX_FRAME) -> tuple[bytes | None, list[int]]:
    """One frame and the descriptors sent with it; (None, []) at end of stream; ValueError for a
    frame announced larger than `limit` (nothing of it is read)."""
    fds: list[int] = []
    if maxfds:
        head, fds, _, _ = socket.recv_fds(sock, _HDR.size, maxfds)
        if not head:
            return None, fds
    else:
        head = b""
    header = _exact(sock, _HDR.size, head)
    if header is None:
        return None, fds
    (size,) = _HDR.unpack(header)
    if size > limit:
        raise ValueError(f"frame of {size} bytes, over the {limit}-byte limit")
    return _exact(sock, size), fds
