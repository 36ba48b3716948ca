"""Serving the gateway on uvicorn: ``aura serve`` in the foreground, or a thread for tests.

:func:`serve` runs until Ctrl-C; :func:`running` yields the URL of a server in a background
thread; :func:`add_serve_arguments` and :func:`run_serve` are the ``aura serve`` command.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import uvicorn

from aura.config import (
    CLI_MODULES,
    add_modules_argument,
    database_location,
    import_errors,
    load_config,
    load_modules,
    token_keys_path,
)
from aura.exceptions import ConfigurationError
from aura.platform import Platform
from aura.web.auth import Authenticator, TokenAuthority
from aura.web.gateway import Gateway
from aura.web.middleware import DEFAULT_MAX_BODY_BYTES
from aura.web.problems import ErrorStatuses

if TYPE_CHECKING:
    from aura.database import SqlDatabase
    from aura.telemetry import Telemetry

__all__ = ["DEFAULT_DATABASE", "add_serve_arguments", "run_serve", "running", "serve"]

DEFAULT_DATABASE = Path("var") / "aura.db"
"""Where ``aura serve`` keeps its SQLite file unless ``--database`` or ``AURA_DATABASE`` names
another file or a ``postgresql://`` URL."""


def _bind(host: str, port: int) -> socket.socket:
    """Listen on ``host:port`` now, so a taken port fails here with a plain ``OSError``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it Nagle's algorithm and delayed ACKs add 40 ms to every keep-alive request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # connections queue from now on, before the server loop starts
    except BaseException:
        sock.close()
        raise
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _server(
    gateway: Gateway, log_level: str, trusted_proxies: tuple[str, ...] = ()
) -> uvicorn.Server:
    # No lifespan (the caller owns the platform) and no access log (the gateway logs requests).
    # X-Forwarded-For is believed only from the proxies named: uvicorn's default trusts any
    # client on 127.0.0.1, which lets a local client choose the address its rate limits count.
    # No "server: uvicorn" header either: what runs the gateway is nobody's business.
    config = uvicorn.Config(
        gateway,
        lifespan="off",
        access_log=False,
        server_header=False,
        log_level=log_level,
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=list(trusted_proxies) or None,
    )
    return uvicorn.Server(config)


def serve(
    platform: Platform,
    *,
    auth: Authenticator,
    errors: ErrorStatuses | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    trusted_proxies: tuple[str, ...] = (),
    out: TextIO | None = None,
    telemetry: Telemetry | None = None,
) -> None:
    """Serve ``platform`` over HTTP on uvicorn until Ctrl-C (or SIGTERM), then return.

    ``auth`` and ``errors`` are the gateway's (see :class:`~aura.web.Gateway`);
    ``trusted_proxies`` are the addresses whose ``X-Forwarded-For`` names the client (none by
    default: the client is the peer of the connection); ``telemetry`` makes each request a span
    (see :class:`~aura.web.Gateway`). Starts the
    platform if needed and prints the URL and two curl commands to ``out`` once listening. The
    platform stays open: the caller closes it. A taken port raises ``OSError`` before anything
    is served.
    """
    sock = _bind(host, port)
    gateway: Gateway | None = None
    try:
        gateway = Gateway(
            platform.start(),
            auth=auth,
            errors=errors,
            max_body_bytes=max_body_bytes,
            telemetry=telemetry,
        )
        if out is not None:
            url = _url(sock)
            print(f"Aura serves {len(platform.modules)} modules on {url}", file=out)
            print(f"  curl {url}/health", file=out)
            print(
                f'  curl -H "Authorization: Bearer $(aura token issue --role operator)" '
                f"{url}/api/_modules",
                file=out,
            )
            out.flush()
        _server(gateway, "warning", trusted_proxies).run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn already shut down gracefully; Ctrl-C is the normal way to stop
    finally:
        if gateway is not None:
            gateway.close()
        sock.close()


@contextmanager
def running(
    gateway: Gateway,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    trusted_proxies: tuple[str, ...] = (),
) -> Iterator[str]:
    """Serve ``gateway`` on uvicorn in a background thread; yield its base URL, then stop it.

    ``port=0`` picks a free port. Meant for tests and embedding; :func:`serve` is the foreground
    form.
    """
    sock = _bind(host, port)
    server = _server(gateway, "warning", trusted_proxies)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="aura-gateway-server", daemon=True
    )
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise ConfigurationError(
                    f"The gateway server on {_url(sock)} stopped while starting; its log above "
                    "says why."
                )
            time.sleep(0.005)
        yield _url(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``aura serve``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument(
        "--database",
        default=None,
        help="SQLite file or postgresql:// URL (default: $AURA_DATABASE, else database in "
        f"[tool.aura], else {DEFAULT_DATABASE.as_posix()} under the project root)",
    )
    parser.add_argument(
        "--trusted-proxy",
        dest="trusted_proxies",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="a reverse proxy whose X-Forwarded-For names the client (repeatable; none by default)",
    )
    add_modules_argument(parser)


def run_serve(
    args: argparse.Namespace,
    out: TextIO,
    *,
    open_postgres: Callable[[str], SqlDatabase] | None = None,
) -> int:
    """Run ``aura serve``: the modules over HTTP until Ctrl-C; return the exit status.

    The database is an SQLite file, or a ``postgresql://`` URL that ``open_postgres`` opens
    (the ``aura`` command passes :class:`aura.postgres.PostgresDatabase`: the gateway does not
    import the PostgreSQL package, which is given to it).
    """
    _check_address(args.host, args.port)  # before anything is opened or created
    _check_port_free(args.host, args.port)
    config = load_config()
    modules = load_modules(config, config.modules_setting(args.modules, **CLI_MODULES))
    location = database_location(args.database, config)
    keys = token_keys_path(config)
    # An existing key file is read (and refused if damaged) now; a missing one is made only
    # once the database has been opened: a refused database leaves no new key behind.
    authority = TokenAuthority.from_file(keys) if keys.exists() else None
    errors = import_errors(config)
    database, where = _open_database(location, open_postgres)
    # The gateway's structured records, one line each on stderr (kept if logging is set up).
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # Served durably: events, publications and dead letters survive a crash or a restart.
    with Platform(modules, database=database, durable=True) as platform:
        if authority is None:
            authority = TokenAuthority.from_file(keys, create=True)
        print(f"Database {where} (tables created if missing).", file=out)
        print(f"Token keys {keys} (signing key {authority.key_ids[0]}).", file=out)
        telemetry, shutdown = _telemetry(platform, out)
        try:
            serve(
                platform,
                auth=authority,
                errors=errors,
                host=args.host,
                port=args.port,
                trusted_proxies=tuple(args.trusted_proxies),
                out=out,
                telemetry=telemetry,
            )
        except OSError as error:
            print(
                f"Cannot listen on {args.host}:{args.port}: {error.strerror or error}. "
                f"{_bind_fix(error)}",
                file=out,
            )
            return 1
        finally:
            shutdown()  # flush the spans still batched
    print("Stopped; the platform and its database are closed.", file=out)
    return 0


def _check_address(host: str, port: int) -> None:
    """Refuse a port out of range or a host that is no address of any machine, with the fix."""
    if not 0 <= port <= 65535:
        raise ConfigurationError(
            f"--port must be a port number from 0 to 65535, got {port}. Pass e.g. --port 8000 "
            "(0: any free port). Nothing was opened."
        )
    if not host.strip():  # bind() would read it as every interface: say so, don't guess
        raise ConfigurationError(
            f"--host is empty ({host!r}), which would listen on every interface. Pass --host "
            "127.0.0.1 (this machine only, the default) or --host 0.0.0.0 (every interface). "
            "Nothing was opened."
        )
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        reason = error.strerror if isinstance(error, socket.gaierror) else str(error)
        raise ConfigurationError(
            f"--host {host!r} is not an address to listen on: {reason}. Pass an address of this "
            "machine, e.g. --host 127.0.0.1 (this machine only) or --host 0.0.0.0 (every "
            "interface). Nothing was opened."
        ) from None


def _check_port_free(host: str, port: int) -> None:
    """Refuse a port something already listens on before the database is created: a trial
    bind, as the server binds (SO_REUSEADDR: a port left in TIME_WAIT is free)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as trial:
        trial.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            trial.bind((host, port))
        except OSError as error:
            raise ConfigurationError(
                f"Cannot listen on {host}:{port}: {error.strerror or error}. {_bind_fix(error)} "
                "Nothing was opened."
            ) from None


def _bind_fix(error: OSError) -> str:
    """What to do about a failed bind: another host when the address is not this machine's,
    another port otherwise."""
    if error.errno == errno.EADDRNOTAVAIL:
        return (
            "Pass --host with an address of this machine: 127.0.0.1 (this machine only) or "
            "0.0.0.0 (every interface)."
        )
    return "Pass --port with a free port, or stop what uses this one."


def _open_database(
    location: Path | str, open_postgres: Callable[[str], SqlDatabase] | None
) -> tuple[Path | SqlDatabase, str]:
    """What ``Platform(database=...)`` takes for ``location``, and how to show it.

    A PostgreSQL URL is opened now (a wrong URL or a server that is down fails here) and shown
    as the database shows it, password masked. An SQLite file's folder is made if missing.
    """
    if isinstance(location, str):
        if open_postgres is None:
            raise ConfigurationError(
                "The database is a PostgreSQL URL, and run_serve() was given no open_postgres "
                "to open it with. Run `aura serve`, or pass run_serve(args, out, "
                "open_postgres=aura.postgres.PostgresDatabase)."
            )
        database = open_postgres(location)
        return database, database.path
    location.parent.mkdir(parents=True, exist_ok=True)
    if not location.exists():
        # The platform's data (patients' among them) readable by this user alone, as the key
        # file is: SQLite gives the -wal and -shm files beside it the same mode.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(location, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    return location, str(location)


def _telemetry(platform: Platform, out: TextIO) -> tuple[Telemetry | None, Callable[[], None]]:
    """Trace ``platform`` as the ``OTEL_*`` variables say, when the ``otel`` extra is there;
    say where the traces go. Return the telemetry and what flushes it at the end."""
    try:
        from aura import telemetry
    except ImportError:
        print(
            "Traces off: pip install 'aura-modulith[otel]' to trace with OpenTelemetry.", file=out
        )
        return None, lambda: None
    provider, where = telemetry.from_environment()
    print(f"Traces {where}.", file=out)
    if provider is None:
        return None, lambda: None
    return telemetry.instrument(platform, tracer_provider=provider), provider.shutdown
