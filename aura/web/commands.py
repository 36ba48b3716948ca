"""``aura token``: service tokens for the gateway, and the rotation of its signing keys.

The keys are the file ``aura serve`` reads (``[tool.aura.web] token_keys``, else
``$AURA_TOKEN_KEYS``, else ``var/token-keys.json``); a server reads it when it starts, so restart
it after ``rotate`` or ``retire``.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import TextIO

from aura.config import load_config, token_keys_path
from aura.exceptions import ConfigurationError
from aura.web.auth import TokenAuthority

__all__ = ["add_token_arguments", "run_token"]


def add_token_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``aura token``."""
    parser.add_argument(
        "action",
        choices=("issue", "rotate", "retire", "keys"),
        help="issue a token; rotate in a new signing key; retire a key; list the key ids",
    )
    parser.add_argument("kid", nargs="?", help="retire: the id of the key to retire")
    parser.add_argument("--subject", help="issue: the token's subject (default operator)")
    parser.add_argument(
        "--role", dest="roles", action="append", metavar="ROLE", help="issue: a role (repeatable)"
    )
    parser.add_argument("--user-id", type=int, help="issue: the user the token stands for")
    parser.add_argument("--ttl-minutes", type=float, help="issue: how long it lives (default 60)")


_LONGEST_TTL = 366 * 24 * 60
"""The longest life ``aura token issue`` gives a token, in minutes: a year."""


def _check_token_arguments(args: argparse.Namespace) -> None:
    """Refuse what the action would ignore, and a life no token should have."""
    issue_only = [
        flag
        for flag, value in (
            ("--subject", args.subject),
            ("--role", args.roles),
            ("--user-id", args.user_id),
            ("--ttl-minutes", args.ttl_minutes),
        )
        if value is not None
    ]
    if args.action != "issue" and issue_only:
        raise ConfigurationError(
            f"{', '.join(issue_only)} {'shape' if len(issue_only) > 1 else 'shapes'} only the "
            f"token 'aura token issue' makes: 'aura token {args.action}' would ignore "
            f"{'them' if len(issue_only) > 1 else 'it'}. Drop "
            f"{'them' if len(issue_only) > 1 else 'it'}, or run 'aura token issue ...'."
        )
    if args.kid is not None and args.action != "retire":
        raise ConfigurationError(
            f"'aura token {args.action}' takes no key id, got {args.kid!r}: only 'aura token "
            "retire <kid>' does."
        )
    ttl = args.ttl_minutes
    if ttl is not None and not (0 < ttl <= _LONGEST_TTL):  # NaN fails both
        raise ConfigurationError(
            f"--ttl-minutes must be more than 0 and at most {_LONGEST_TTL} (a year), got {ttl}. "
            "Pass e.g. 60."
        )


def run_token(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``aura token``; return the exit status."""
    _check_token_arguments(args)
    path = token_keys_path(load_config())
    if args.action == "issue":
        if not path.exists():  # a token no server holds the key of would be refused by all
            raise ConfigurationError(
                f"No key file at {path}: a token signed with a new one would be refused by "
                "every server. Start the server once (aura serve creates it), point "
                "$AURA_TOKEN_KEYS or token_keys in [tool.aura.web] at the server's file, or run "
                "'aura token rotate' to create it. Nothing was created."
            )
        authority = TokenAuthority.from_file(path)
        token = authority.issue(
            args.subject if args.subject is not None else "operator",
            roles=args.roles or [],
            user_id=args.user_id,
            ttl=timedelta(minutes=args.ttl_minutes if args.ttl_minutes is not None else 60.0),
        )
        print(token, file=out)
        return 0
    if args.action == "keys":
        for kid in TokenAuthority.from_file(path).key_ids:
            print(kid, file=out)
        return 0
    if args.action == "rotate":
        if path.exists():
            authority = TokenAuthority.from_file(path).rotate()
        else:
            authority = TokenAuthority.generate()
        authority.save(path)
        print(
            f"New signing key {authority.key_ids[0]} in {path}; {len(authority.key_ids) - 1} "
            "older key(s) still verify. Restart the server to use it.",
            file=out,
        )
        return 0
    if not args.kid:
        raise ConfigurationError("retire needs the id of a key: aura token retire <kid>.")
    authority = TokenAuthority.from_file(path).retire(args.kid)
    authority.save(path)
    print(f"Retired key {args.kid}; tokens it signed are refused after a restart.", file=out)
    return 0
