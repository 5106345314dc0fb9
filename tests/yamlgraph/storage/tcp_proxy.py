"""A real TCP proxy for outage tests: put it in front of a real server, stop it, start it.

    proxy = TcpProxy("127.0.0.1", 6379).start()   # listens on 127.0.0.1, a free port
    url = f"redis://127.0.0.1:{proxy.port}"
    proxy.stop()    # refuses new connections and cuts the open ones: the server is "down"
    proxy.start()   # the same port again: the server is "back"
    proxy.hang()    # accepts and keeps connections, forwards nothing: a hung server

Plain threads and sockets, so it works under sync and async code alike.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target_host`:`target_port` while running."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0  # chosen by the kernel on the first start, reused afterwards
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._forwarding = threading.Event()

    def start(self) -> TcpProxy:
        """Listen (again, on the same port) and forward every connection."""
        if self._listener is not None:  # hung: cut those connections first
            self.stop()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._forwarding.set()
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Close the listening socket and every open connection: connection refused."""
        listener, self._listener = self._listener, None
        self._forwarding.clear()
        if listener is not None:
            _close(listener)
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _close(sock)

    def hang(self) -> None:
        """Keep accepting and keep connections open, but forward nothing: a hung server."""
        self._forwarding.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except OSError:  # closed by stop()
                return
            if not self._forwarding.is_set():
                self._track(client)  # hung: hold the connection, answer nothing
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            self._track(client, upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _track(self, *sockets: socket.socket) -> None:
        with self._lock:
            self._sockets.update(sockets)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if self._forwarding.is_set():
                    sink.sendall(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
