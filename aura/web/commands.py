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
    parser.add_argument("--subject", default="operator", help="issue: the token's subject")
    parser.add_argument(
        "--role", dest="roles", action="append", metavar="ROLE", help="issue: a role (repeatable)"
    )
    parser.add_argument("--user-id", type=int, help="issue: the user the token stands for")
    parser.add_argument(
        "--ttl-minutes", type=float, default=60.0, help="issue: how long it lives (default 60)"
    )


def run_token(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``aura token``; return the exit status."""
    path = token_keys_path(load_config())
    if args.action == "issue":
        if not args.ttl_minutes > 0:
            raise ConfigurationError(
                f"--ttl-minutes must be more than 0, got {args.ttl_minutes}. Pass e.g. 60."
            )
        authority = TokenAuthority.from_file(path, create=True)
        token = authority.issue(
            args.subject,
            roles=args.roles or [],
            user_id=args.user_id,
            ttl=timedelta(minutes=args.ttl_minutes),
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
