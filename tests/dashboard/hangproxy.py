"""A TCP proxy that can hang: a database that stops answering without refusing anything.

:class:`HangingProxy` forwards 127.0.0.1:<port> to an upstream address. :meth:`pause`
stops forwarding in both directions without closing anything: the client's connections
stay open, its packets are received (the kernel acknowledges them) and never answered,
new connections are accepted and left waiting; what a hung server or a stalled network
looks like to the client. :meth:`resume` forwards everything held back.
"""

from __future__ import annotations

import select
import socket
import threading


class HangingProxy:
    """A pausable TCP proxy on 127.0.0.1 (see the module)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        #: held while bytes are moved: once pause() returns, nothing moves any more
        self._gate = threading.Lock()
        self._running = threading.Event()
        self._running.set()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True, name="hangproxy-accept").start()

    def pause(self) -> None:
        """Stop forwarding (connections stay open, nothing is answered)."""
        with self._gate:
            self._running.clear()

    def resume(self) -> None:
        """Forward again, including what was held back."""
        self._running.set()

    def close(self) -> None:
        """Close the listener and every connection."""
        self._closed.set()
        self._running.set()
        self._listener.close()
        for sock in list(self._sockets):
            try:
                sock.close()
            except OSError:
                pass

    def __enter__(self) -> HangingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client,), daemon=True,
                             name="hangproxy-connect").start()

    def _connect(self, client: socket.socket) -> None:
        self._sockets.append(client)
        self._running.wait()  # a paused proxy does not even reach the server
        if self._closed.is_set():
            return
        try:
            server = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        self._sockets.append(server)
        for src, dst in ((client, server), (server, client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True,
                             name="hangproxy-pump").start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while not self._closed.is_set():
                self._running.wait()
                readable, _, _ = select.select([src], [], [], 0.05)
                if not readable:
                    continue
                with self._gate:
                    if not self._running.is_set():
                        continue  # paused while waiting: the bytes stay in the kernel
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
