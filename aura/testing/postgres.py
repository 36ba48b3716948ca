"""Private PostgreSQL servers for pytest: an opt-in plugin for suites that test on PostgreSQL.

Aura's own plugin (``aura.testing.plugin``, registered through the ``pytest11`` entry point)
does not load this one; a suite enables it on the command line or in its ``conftest.py``::

    pytest -p aura.testing.postgres

    # conftest.py (a top-level one: pytest refuses pytest_plugins in nested conftest files)
    pytest_plugins = ["aura.testing.postgres"]

Importing it needs pytest and the standard library only; the fixtures that connect import
psycopg when they run, and without it they raise :class:`~aura.exceptions.MissingExtraError`
(install Aura's ``postgres`` extra: ``pip install 'aura-modulith[postgres]'``).

Fixtures:

- ``postgres_cluster`` (session): the server the tests use. With ``AURA_TEST_DSN`` set, that
  server (:class:`ExternalServer`); otherwise a cluster of this process's own
  (:class:`PostgresCluster`): ``initdb`` into a temporary directory, started on a free port of
  127.0.0.1 (as the user ``nobody`` when the tests run as root: PostgreSQL refuses root),
  stopped and removed at the end of the session. Each xdist worker starts its own, in its own
  directory on its own port.
- ``postgres_dsn`` (session): that server's DSN (its maintenance database).
- ``fresh_postgres_dsn``: the DSN of a new, empty database made for one test
  (``CREATE DATABASE t_<random>``), dropped after it.
- ``postgres_database``: an :class:`aura.postgres.PostgresDatabase` on that database.

The binaries (``initdb``, ``pg_ctl`` and ``postgres``) are looked for on ``PATH``, then under
``/usr/lib/postgresql/*/bin`` (newest version first), or under ``AURA_POSTGRES_BINDIR``
instead of that directory when it is set (a directory, or a glob such as
``/opt/pgsql-*/bin``). Without them and without ``AURA_TEST_DSN``, the tests that use the
fixtures are skipped with :data:`UNAVAILABLE` as the reason, or fail with it when
``AURA_REQUIRE_POSTGRES=1`` (set it on CI, so that they cannot silently stop running).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from aura.exceptions import MissingExtraError

if TYPE_CHECKING:
    from aura.postgres import PostgresDatabase

__all__ = [
    "UNAVAILABLE",
    "ExternalServer",
    "PostgresCluster",
    "find_binaries",
    "locate_server",
    "postgres_unavailable",
    "postgres_url",
]

UNAVAILABLE = "PostgreSQL tests need initdb/pg_ctl on PATH or AURA_TEST_DSN=postgresql://..."
BINARIES = ("initdb", "pg_ctl", "postgres")
DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"
BINDIR_VARIABLE = "AURA_POSTGRES_BINDIR"
"""The environment variable that replaces :data:`DEBIAN_BINDIRS` (a directory or a glob)."""
UNPRIVILEGED_USER = "nobody"  # initdb and postgres refuse to run as root


def find_binaries(path: str | None = None, fallback: str | None = None) -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``: on ``path`` (default:
    ``$PATH``), then under ``fallback`` (a glob, newest version first; default:
    ``$AURA_POSTGRES_BINDIR``, else :data:`DEBIAN_BINDIRS`), or ``None``."""
    if fallback is None:
        fallback = _fallback(os.environ)
    initdb = shutil.which("initdb", path=os.environ.get("PATH", "") if path is None else path)
    if initdb is not None:
        directory = Path(initdb).resolve().parent
        if all((directory / name).exists() for name in BINARIES):
            return directory
    candidates = sorted(glob.glob(fallback), key=_version_key, reverse=True)
    for candidate in candidates:
        if all((Path(candidate) / name).exists() for name in BINARIES):
            return Path(candidate)
    return None


def _fallback(env: Mapping[str, str]) -> str:
    return env.get(BINDIR_VARIABLE, "").strip() or DEBIAN_BINDIRS


def _version_key(directory: str) -> tuple[int, ...]:
    version = Path(directory).parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def postgres_unavailable(env: Mapping[str, str]) -> NoReturn:
    """Skip the test (or fail it, with ``AURA_REQUIRE_POSTGRES=1``): no server to test on."""
    if env.get("AURA_REQUIRE_POSTGRES") == "1":
        pytest.fail(UNAVAILABLE, pytrace=False)
    pytest.skip(UNAVAILABLE)


def locate_server(env: Mapping[str, str], fallback: str | None = None) -> str | Path:
    """``AURA_TEST_DSN`` when set, else the binaries' directory (found on ``env``'s ``PATH``,
    then under ``fallback``, default: its ``AURA_POSTGRES_BINDIR``, else
    :data:`DEBIAN_BINDIRS`); else skip or fail (:func:`postgres_unavailable`)."""
    dsn = env.get("AURA_TEST_DSN", "").strip()
    if dsn:
        return dsn
    binaries = find_binaries(env.get("PATH", ""), _fallback(env) if fallback is None else fallback)
    if binaries is None:
        postgres_unavailable(env)
    return binaries


@dataclass
class ExternalServer:
    """A server given by ``AURA_TEST_DSN``: used as it is, never started or stopped here."""

    dsn: str

    def stop(self) -> None:
        """A server of someone else's cannot be stopped: the test that asks is skipped."""
        pytest.skip("stopping the server needs a private cluster (AURA_TEST_DSN is set)")

    def start(self) -> None:
        """Nothing to do: the server was never stopped here."""

    def restart(self) -> None:
        """A server of someone else's cannot be restarted: the test that asks is skipped."""
        pytest.skip("restarting the server needs a private cluster (AURA_TEST_DSN is set)")


@dataclass
class PostgresCluster:
    """A PostgreSQL cluster of this process's own, in a temporary directory, on 127.0.0.1."""

    binaries: Path
    root: Path
    port: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds taken by ``initdb`` and by the first start (measured, for the report)."""

    @property
    def data(self) -> Path:
        """The data directory."""
        return self.root / "data"

    @property
    def dsn(self) -> str:
        """The DSN of the maintenance database ``postgres`` (superuser, trust auth)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def create(cls, binaries: Path, label: str = "") -> PostgresCluster:
        """``initdb`` a new cluster in a new temporary directory and start it."""
        root = Path(tempfile.mkdtemp(prefix=f"aura-pg-{label}-" if label else "aura-pg-"))
        cluster = cls(binaries, root)
        try:
            _give_to_unprivileged_user(root)
            started = time.perf_counter()
            cluster._run(
                "initdb",
                "-D",
                str(cluster.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            )
            cluster.timings["initdb"] = time.perf_counter() - started
            started = time.perf_counter()
            cluster._start_on_a_free_port()
            cluster.timings["start"] = time.perf_counter() - started
        except BaseException:
            cluster.remove()
            raise
        return cluster

    def start(self) -> None:
        """Start the server on :attr:`port`; returns once it accepts connections."""
        sockets = self.root / "sockets"
        sockets.mkdir(exist_ok=True)
        _give_to_unprivileged_user(sockets)
        # fsync off: the machine does not crash under a test, only the server does, and the
        # operating system keeps what it was given. synchronous_commit stays on: with it off, a
        # restart (an immediate stop) would lose the last commits still in the WAL buffers.
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {sockets} -c fsync=off "
            "-c full_page_writes=off -c max_connections=100"
        )
        self._run(
            "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log),
            "-o", options,
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server at once (``-m immediate``: a crash, recovered by the next start)."""
        self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.data))

    def restart(self) -> None:
        """Crash the server and start it again on the same port (for fault tests)."""
        self.stop()
        self.start()

    def remove(self) -> None:
        """Stop the server if it runs, and delete the cluster's directory."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self.root / "server.log"

    def _start_on_a_free_port(self, attempts: int = 5) -> None:
        # Another process may take the port between the probe and the server's bind: retry.
        for attempt in range(attempts):
            self.port = _free_port()
            try:
                self.start()
                return
            except subprocess.CalledProcessError:
                if attempt == attempts - 1 or "already in use" not in self._log_text():
                    raise

    def _log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _run(self, program: str, *arguments: str) -> None:
        command = [str(self.binaries / program), *arguments]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
            cwd=self.root,
            **_unprivileged(),
        )
        if result.returncode != 0:
            raise subprocess.CalledProcessError(
                result.returncode,
                command,
                result.stdout,
                f"{result.stderr}\n--- server log ---\n{self._log_text()[-4000:]}",
            )


def _unprivileged() -> dict[str, Any]:
    """``subprocess.run`` arguments that drop root for ``nobody``; none for another user."""
    if os.geteuid() != 0:
        return {}
    user = pwd.getpwnam(UNPRIVILEGED_USER)
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _give_to_unprivileged_user(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam(UNPRIVILEGED_USER)
        os.chown(path, user.pw_uid, user.pw_gid)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster | ExternalServer]:
    """The PostgreSQL server of this session (of this xdist worker): private unless
    ``AURA_TEST_DSN`` names one."""
    server = locate_server(os.environ)
    if isinstance(server, str):
        yield ExternalServer(server)
        return
    cluster = PostgresCluster.create(server, label=os.environ.get("PYTEST_XDIST_WORKER", "main"))
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture(scope="session")
def postgres_dsn(postgres_cluster: PostgresCluster | ExternalServer) -> str:
    """The DSN of the session's PostgreSQL server (its maintenance database)."""
    return postgres_cluster.dsn


@pytest.fixture
def fresh_postgres_dsn(postgres_dsn: str) -> Iterator[str]:
    """The DSN of a new, empty database, made for this test and dropped after it."""
    psycopg = _psycopg()
    from psycopg import conninfo, sql

    # secrets, not random: pytest-randomly reseeds random identically in every test and worker.
    name = f"t_{secrets.token_hex(8)}"
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield conninfo.make_conninfo(postgres_dsn, dbname=name)
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def fresh_postgres_url(fresh_postgres_dsn: str) -> str:
    """The same new database as a URL SQLAlchemy takes (``create_engine(fresh_postgres_url)``):
    ``postgresql+psycopg://user@host:port/name``."""
    return postgres_url(fresh_postgres_dsn)


def postgres_url(dsn: str, driver: str = "postgresql+psycopg") -> str:
    """``dsn`` (libpq's ``key=value`` form, or a URL) as a URL of ``driver``, for SQLAlchemy:
    the user and password quoted, a socket directory as the ``host`` query parameter."""
    from urllib.parse import quote

    parts = _psycopg().conninfo.conninfo_to_dict(dsn)
    login = quote(str(parts.pop("user", "")), safe="")
    password = parts.pop("password", None)
    if password is not None:
        login += f":{quote(str(password), safe='')}"
    host = str(parts.pop("host", ""))
    port = parts.pop("port", None)
    name = quote(str(parts.pop("dbname", "")), safe="")
    query = []
    if host.startswith("/"):  # a Unix socket's directory: no place for it before the path
        query.append(f"host={quote(host, safe='/')}")
        host = ""
    if ":" in host:  # an IPv6 address: in brackets, or its colons read as the port's
        host = f"[{host}]"
    address = f"{host}:{port}" if port is not None and host else host
    if port is not None and not host:
        query.append(f"port={port}")
    query += [f"{key}={quote(str(value), safe='')}" for key, value in sorted(parts.items())]
    return f"{driver}://{f'{login}@' if login else ''}{address}/{name}" + (
        f"?{'&'.join(query)}" if query else ""
    )


def _psycopg() -> Any:
    """psycopg, or the error naming the extra that installs it."""
    try:
        import psycopg
        import psycopg.conninfo
    except ImportError:
        raise MissingExtraError(
            "aura.testing.postgres needs psycopg, which is not installed. Install Aura's "
            "postgres extra: pip install 'aura-modulith[postgres]'"
        ) from None
    return psycopg


@pytest.fixture
def postgres_database(fresh_postgres_dsn: str) -> Iterator[PostgresDatabase]:
    """A :class:`~aura.postgres.PostgresDatabase` on a new, empty database; closed after."""
    from aura.postgres import PostgresDatabase

    database = PostgresDatabase(fresh_postgres_dsn, pool_size=5)
    try:
        yield database
    finally:
        database.close()
