"""A TCP relay on loopback that a test can cut and restore: a service going away under a running server."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading

from tests.servers import free_port


class TcpRelay:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._stop = threading.Event()
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.2)
        self._listener = listener
        self._stop.clear()
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def cut(self) -> None:
        """Refuse new connections and break every open one, as a service that died would."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.close()
            self._connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        # A cut closes both ends under this thread: whatever that makes the calls below raise ends it.
        with contextlib.suppress(OSError, ValueError, KeyError):
            self._relay(client, upstream)
        for end in (client, upstream):
            with contextlib.suppress(OSError):
                end.close()

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for end in peers:
                end.setblocking(False)
                selector.register(end, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.2):
                    readable = key.fileobj
                    assert isinstance(readable, socket.socket)
                    try:
                        data = readable.recv(256 * 1024)
                        if not data:
                            raise ConnectionError
                        peers[readable].setblocking(True)
                        peers[readable].sendall(data)
                        peers[readable].setblocking(False)
                    except OSError:
                        return
