"""SQL text written once for every database: placeholder translation and DSNs for messages.

Aura's statements use SQLite's ``?`` placeholders. :func:`translate` rewrites them, once per
distinct text, for drivers that read ``%s`` (psycopg, and Django's cursors on every backend);
:func:`mask_password` hides the password of a DSN shown in a message or a repr.
"""

from __future__ import annotations

import functools
import re

from aura.exceptions import DatabaseBusyError

__all__ = ["is_database_error", "mask_password", "translate"]

# What must not be touched by placeholder translation: string literals (standard, E'' with
# backslash escapes, dollar-quoted), quoted identifiers and comments; then the placeholders.
_TOKENS = re.compile(
    r"""
      (?P<skip>
          (?<![\w$])[Ee]'(?:[^'\\]|\\.|'')*'?
        | '(?:[^']|'')*'?
        | "(?:[^"]|"")*"?
        | --[^\n]*
        | /\*.*?(?:\*/|\Z)
        | (?<![\w$])\$(?P<tag>(?:[A-Za-z_]\w*)?)\$.*?(?:\$(?P=tag)\$|\Z)
      )
    | (?P<question>\?)
    | (?<![:\w]):(?P<name>[A-Za-z_]\w*)
    | %
    """,
    re.VERBOSE | re.DOTALL,
)


def is_database_error(error: BaseException) -> bool:
    """Whether ``error`` is the database failing, not the code that used it.

    In the DB-API's terms (sqlite3, psycopg, and the classes of those names SQLAlchemy and
    Django wrap them in): an ``OperationalError``, ``InterfaceError`` or ``InternalError`` (or
    a subclass: psycopg's ``AdminShutdown``, its pool's ``PoolTimeout``), or a bare
    ``DatabaseError`` (SQLite's "not authorized", "disk I/O error"); SQLAlchemy's pool
    ``TimeoutError``, ``PendingRollbackError`` and bare ``DBAPIError``; Aura's own
    :class:`~aura.exceptions.DatabaseBusyError`. Not a ``ProgrammingError``,
    ``IntegrityError``, ``DataError`` or ``NotSupportedError``: those are the code's or the
    data's.
    """
    kind = type(error)
    if kind.__name__ in _BARE or isinstance(error, DatabaseBusyError):
        return True
    if kind.__name__ == "TimeoutError" and kind.__module__.startswith("sqlalchemy"):
        return True  # the pool had no connection to give
    return any(base.__name__ in _FAILING for base in kind.__mro__)


_FAILING = frozenset({"OperationalError", "InterfaceError", "InternalError"})
_BARE = frozenset({"DatabaseError", "DBAPIError", "PendingRollbackError"})


@functools.lru_cache(maxsize=1024)
def translate(statement: str, named: bool = False) -> str:
    """Translate a statement with SQLite placeholders to psycopg's, once per distinct text.

    Each ``?`` becomes ``%s`` (with ``named``, each ``:name`` becomes ``%(name)s`` instead),
    except inside string literals, quoted identifiers and comments; every ``%`` becomes ``%%``
    (psycopg reads ``%`` everywhere, literals included). PostgreSQL's ``?`` operators of
    ``jsonb`` therefore cannot be written: use ``jsonb_exists()`` and its siblings.
    """

    def replace(match: re.Match[str]) -> str:
        if match["skip"] is not None:
            return match["skip"].replace("%", "%%")
        if match["question"] is not None:
            return "%s" if not named else "?"
        if match["name"] is not None:
            return f"%({match['name']})s" if named else match[0]
        return "%%"

    return _TOKENS.sub(replace, statement)


_URI = re.compile(r"^(?P<scheme>postgres(?:ql)?://)(?P<netloc>[^/?#]*)(?P<rest>.*)$", re.DOTALL)
_URI_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*")
_KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'|[^\s']\S*)")


def mask_password(dsn: str) -> str:
    """Return ``dsn`` with any password replaced by ``***`` (URI or ``key=value`` form)."""
    uri = _URI.match(dsn)
    if uri is None:
        return _KEYWORD_PASSWORD.sub(r"\1***", dsn)
    if "@" in uri["rest"]:  # a password holding an unencoded "/": its user info goes further
        return mask_password_any(dsn)
    netloc = uri["netloc"]
    userinfo, at, hosts = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:***@{hosts}"
    return uri["scheme"] + netloc + _URI_QUERY_PASSWORD.sub(r"\1***", uri["rest"])


_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_POSTGRES = frozenset({"postgresql", "postgres"})


def is_postgres_url(location: str) -> bool:
    """Whether a database location is a PostgreSQL URL (``postgresql://`` or ``postgres://``,
    in any case, or SQLAlchemy's ``postgresql+driver://``) rather than an SQLite file's path."""
    found = _SCHEME.match(location)
    return found is not None and found["scheme"].lower().partition("+")[0] in _POSTGRES


def database_url(location: str, origin: str) -> str | None:
    """A database location written as a URL, read: a PostgreSQL URL in the form libpq reads
    (``postgresql://...``; any case, and SQLAlchemy's ``postgresql+psycopg://`` too), an SQLite
    file's path for SQLAlchemy's ``sqlite:///path``, or ``None`` when it is no URL at all (the
    path of an SQLite file). Any other URL raises :class:`~aura.exceptions.ConfigurationError`
    naming ``origin`` (where it was written): it would otherwise become a file of that name."""
    found = _SCHEME.match(location)
    if found is None:
        return None
    scheme = found["scheme"].lower()
    base, _, driver = scheme.partition("+")
    rest = location[found.end() :]
    if base in _POSTGRES:  # kept as written when libpq reads it so
        return location if scheme == found["scheme"] and not driver else "postgresql://" + rest
    from aura.exceptions import ConfigurationError

    if base == "sqlite" and (rest in ("", "/", "/:memory:") or rest.startswith("/")):
        # SQLAlchemy's forms, with any driver: sqlite:///relative.db, sqlite:////absolute.db,
        # and sqlite:// (or sqlite:///:memory:) for a database in memory.
        path, question, query = rest.partition("?")
        if question:  # SQLAlchemy's options; here they would become part of the file's name
            raise ConfigurationError(
                f"The database ({origin}) is {mask_password_any(location)!r}, an SQLite URL "
                f"with options ({query!r}), which Aura does not read: the file would be named "
                f"{path[1:] + question + query!r}. Pass the file alone "
                f"({found['scheme']}://{path}); Aura sets its own connection options."
            )
        return ":memory:" if rest in ("", "/", "/:memory:") else rest[1:]

    raise ConfigurationError(
        f"The database ({origin}) is {mask_password_any(location)!r}, a {found['scheme']}:// "
        "URL, which Aura does not open: it stores on SQLite (a file's path, or sqlite:///path) "
        "or PostgreSQL (postgresql://user:password@host:5432/dbname). Pass one of those."
    )


def mask_password_any(url: str) -> str:
    """``url`` with the password of its user info replaced by ``***``, whatever its scheme."""
    found = _SCHEME.match(url)
    if found is None:
        return mask_password(url)
    # The user info ends at the last "@": a password may hold an unencoded "/" (masking a path
    # that holds an "@" too is the safe mistake).
    userinfo, at, rest = url[found.end() :].rpartition("@")
    if at and ":" in userinfo:
        userinfo = f"{userinfo.partition(':')[0]}:***"
    shown = f"{userinfo}{at}{rest}" if at else rest
    return found["scheme"] + "://" + _URI_QUERY_PASSWORD.sub(r"\1***", shown)


# SQLSTATE classes and codes of a PostgreSQL failure that is the server's moment, not the code's:
# connection exception, transaction rollback (serialization failure, deadlock), insufficient
# resources (disk full, out of memory, too many connections), operator intervention (shutdown,
# a statement timeout or cancel), and lock not available.
_TRANSIENT_CLASSES = frozenset({"08", "40", "53", "57"})
_TRANSIENT_STATES = frozenset({"55P03"})


def postgres_transient(error: BaseException | None) -> bool:
    """Whether a PostgreSQL driver's operational ``error`` is momentary: by its SQLSTATE
    (``sqlstate``, psycopg 3 and asyncpg; ``pgcode``, psycopg2), and without one — the
    connection itself failed (lost, refused, closed), no pooled connection in time — yes.
    A program limit (an index row too large), a missing file or an object in the wrong state
    are the code's: retrying them would only repeat the handler's other effects."""
    if error is None:
        return True
    sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if not isinstance(sqlstate, str) or len(sqlstate) != 5:
        return True
    return sqlstate[:2] in _TRANSIENT_CLASSES or sqlstate in _TRANSIENT_STATES
