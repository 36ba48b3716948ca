"""Bearer tokens for the gateway: issued and checked with PyJWT, keys rotated by id.

A :class:`TokenAuthority` holds one or more HMAC keys, each with an id (``kid``). The first key
signs; every key verifies, so a key can be rotated in (:meth:`~TokenAuthority.rotate`) and the
old one retired later (:meth:`~TokenAuthority.retire`) without logging anyone out. A token is a
JWT (RFC 7519) with ``iss``, ``aud``, ``sub``, ``iat``, ``nbf``, ``exp`` and ``jti``, plus
``roles`` and, for a person, ``user_id``; verification requires all of them, accepts HS256
alone (so ``alg: none`` and algorithm confusion are refused by PyJWT), and checks issuer,
audience and expiry with a small leeway for clock skew.

Any object with ``authenticate(token) -> Principal`` can stand in for the authority (an
identity provider's verifier, say): the gateway needs nothing else.

The keys live in a JSON file (``[tool.aura.web] token_keys``, ``var/token-keys.json`` by
default) written with mode 0600; ``aura token`` issues service tokens and rotates the keys.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import jwt

from aura.access import Principal
from aura.exceptions import AuthenticationError, ConfigurationError

__all__ = ["MIN_KEY_BYTES", "Authenticator", "TokenAuthority"]

MIN_KEY_BYTES = 32
"""The shortest HMAC key accepted: 256 bits, as RFC 7518 asks for HS256."""

_ALGORITHM = "HS256"
_REQUIRED = ["iss", "aud", "sub", "iat", "nbf", "exp", "jti"]
_RESERVED = (*_REQUIRED, "roles", "user_id")


class Authenticator(Protocol):
    """What the gateway needs to know who is calling."""

    def authenticate(self, token: str) -> Principal:
        """Return the principal ``token`` stands for, or raise AuthenticationError."""
        ...


class TokenAuthority:
    """Issues and verifies the gateway's JWTs; see the module docs.

    ``keys`` maps key ids to secrets of at least :data:`MIN_KEY_BYTES` bytes; the first signs.
    ``ttl`` is how long an issued token lives unless :meth:`issue` is told otherwise.
    """

    def __init__(
        self,
        keys: Mapping[str, str | bytes] | Sequence[tuple[str, str | bytes]],
        *,
        issuer: str = "aura",
        audience: str = "aura-gateway",
        ttl: timedelta = timedelta(minutes=15),
        leeway: timedelta = timedelta(seconds=10),
    ) -> None:
        pairs = list(keys.items()) if isinstance(keys, Mapping) else list(keys)
        if not pairs:
            raise ConfigurationError(
                "A TokenAuthority needs at least one key. Build one with "
                "TokenAuthority.generate() or pass keys={'key-id': secret}."
            )
        self._keys: dict[str, bytes] = {}
        for kid, secret in pairs:
            self._keys[_check_kid(kid)] = _check_secret(kid, secret)
        for name, value in (("issuer", issuer), ("audience", audience)):
            if not isinstance(value, str) or not value:
                raise ConfigurationError(
                    f"The token {name} must be a non-empty string, got {value!r}."
                )
        for name, span in (("ttl", ttl), ("leeway", leeway)):
            if not isinstance(span, timedelta) or span < timedelta(0):
                raise ConfigurationError(
                    f"The token {name} must be a timedelta of zero or more, got {span!r}. "
                    "Pass e.g. timedelta(minutes=15)."
                )
        if ttl == timedelta(0):
            raise ConfigurationError("The token ttl must be longer than zero.")
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self.leeway = leeway

    def __repr__(self) -> str:
        return (
            f"TokenAuthority(keys={self.key_ids!r}, issuer={self.issuer!r}, "
            f"audience={self.audience!r})"
        )

    @property
    def key_ids(self) -> list[str]:
        """The ids of the keys, the signing key first (never the secrets)."""
        return list(self._keys)

    @classmethod
    def generate(cls, **options: Any) -> TokenAuthority:
        """An authority with one fresh random key (256 bits from :mod:`secrets`)."""
        return cls({_new_kid(): secrets.token_bytes(MIN_KEY_BYTES)}, **options)

    def rotate(self) -> TokenAuthority:
        """A copy that signs with a new key and still verifies with every current one."""
        keys = [(_new_kid(), secrets.token_bytes(MIN_KEY_BYTES)), *self._keys.items()]
        return self._with(keys)

    def retire(self, kid: str) -> TokenAuthority:
        """A copy without key ``kid``: tokens it signed are refused from now on."""
        if kid not in self._keys:
            raise ConfigurationError(
                f"No token key {kid!r} to retire. The keys are: {', '.join(self._keys)}."
            )
        if len(self._keys) == 1:
            raise ConfigurationError(
                f"Key {kid!r} is the only token key; rotate a new one in before retiring it."
            )
        return self._with([(k, v) for k, v in self._keys.items() if k != kid])

    def _with(self, keys: list[tuple[str, bytes]]) -> TokenAuthority:
        return TokenAuthority(
            keys, issuer=self.issuer, audience=self.audience, ttl=self.ttl, leeway=self.leeway
        )

    # --- tokens ---------------------------------------------------------------------------------

    def issue(
        self,
        subject: str,
        *,
        roles: Iterable[str] = (),
        user_id: int | None = None,
        ttl: timedelta | None = None,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A signed token for ``subject`` with ``roles`` (and ``user_id`` for a person).

        ``claims`` adds claims of the caller's own (a login puts a credential stamp there, which
        an :meth:`~aura.module.Module.on_authenticate` hook compares); they may not replace the
        registered ones this method sets.
        """
        if not isinstance(subject, str) or not subject:
            raise ConfigurationError(
                f"A token's subject must be a non-empty string, got {subject!r}."
            )
        held = [roles] if isinstance(roles, str) else list(roles)
        if not all(isinstance(name, str) and name for name in held):
            raise ConfigurationError(f"A token's roles must be non-empty strings, got {held!r}.")
        if user_id is not None and (
            isinstance(user_id, bool) or not isinstance(user_id, int) or not 0 < user_id < 2**63
        ):
            raise ConfigurationError(
                f"A token's user_id must be a whole number from 1 to 2**63 - 1, got {user_id!r}."
            )
        lifetime = self.ttl if ttl is None else ttl
        if not isinstance(lifetime, timedelta) or lifetime <= timedelta(0):
            raise ConfigurationError(f"A token's ttl must be a positive timedelta, got {ttl!r}.")
        now = datetime.now(UTC)
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": uuid.uuid4().hex,
            "roles": sorted(set(held)),
        }
        if user_id is not None:
            payload["user_id"] = user_id
        for name, value in (claims or {}).items():
            if name in payload or name in _RESERVED:
                raise ConfigurationError(
                    f"A token's extra claim {name!r} would replace one the authority sets "
                    f"({', '.join(_RESERVED)}); name it otherwise."
                )
            payload[name] = value
        kid, secret = next(iter(self._keys.items()))
        return jwt.encode(payload, secret, algorithm=_ALGORITHM, headers={"kid": kid})

    def authenticate(self, token: str) -> Principal:
        """The principal of a valid token; :exc:`~aura.exceptions.AuthenticationError` else.

        The message says why (expired, wrong audience, bad signature, unknown key...), never
        anything of the token's contents.
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthenticationError("The bearer token is not a JWT.") from None
        kid = header.get("kid")
        if header.get("alg") != _ALGORITHM:
            raise AuthenticationError(
                f"The bearer token is signed with {str(header.get('alg'))[:20]!r}; this gateway "
                f"accepts {_ALGORITHM} only."
            )
        secret = self._keys.get(kid) if isinstance(kid, str) else None
        if secret is None:
            raise AuthenticationError(
                "The bearer token was signed with a key this gateway does not hold (retired, or "
                "another issuer's). Log in again."
            )
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=[_ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": _REQUIRED},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("The bearer token has expired. Log in again.") from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationError("The bearer token is not valid yet.") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError(
                f"The bearer token is not meant for this gateway (audience {self.audience!r})."
            ) from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError(
                f"The bearer token was not issued by {self.issuer!r}."
            ) from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError("The bearer token's signature is not valid.") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationError(f"The bearer token lacks the claim {exc.claim!r}.") from None
        except jwt.PyJWTError:
            raise AuthenticationError("The bearer token is malformed.") from None
        return _principal(claims)

    # --- the key file ---------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | Path, *, create: bool = False, **options: Any) -> TokenAuthority:
        """Read the keys from ``path``; with ``create``, write fresh ones when it is missing."""
        target = Path(path)
        if not target.exists():
            if not create:
                raise ConfigurationError(
                    f"No token key file at {target}. Run 'aura token rotate' to create one."
                )
            authority = cls.generate(**options)
            authority.save(target)
            return authority
        try:
            document = json.loads(target.read_text(encoding="utf-8"))
            keys = [(entry["kid"], bytes.fromhex(entry["secret"])) for entry in document["keys"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(
                f"The token key file {target} is not readable as Aura's key file ({exc}). "
                "Restore it, or delete it and run 'aura token rotate' (every token is then "
                "refused)."
            ) from None
        return cls(keys, **options)

    def save(self, path: str | Path) -> None:
        """Write the keys to ``path`` (mode 0600), replacing the file in one step."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "keys": [{"kid": kid, "secret": secret.hex()} for kid, secret in self._keys.items()]
        }
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".token-keys-")
        try:
            os.fchmod(handle, 0o600)
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(document, file, indent=2)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _principal(claims: Mapping[str, Any]) -> Principal:
    roles = claims.get("roles", [])
    user_id = claims.get("user_id")
    if not isinstance(roles, list) or not all(isinstance(name, str) for name in roles):
        raise AuthenticationError("The bearer token's roles claim is not a list of names.")
    if user_id is not None and (
        isinstance(user_id, bool) or not isinstance(user_id, int) or not 0 < user_id < 2**63
    ):
        raise AuthenticationError(
            "The bearer token's user_id claim is not a user id (a whole number from 1 to "
            "2**63 - 1)."
        )
    return Principal(
        subject=str(claims["sub"]), roles=frozenset(roles), user_id=user_id, claims=dict(claims)
    )


def _new_kid() -> str:
    return f"k{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"


def _check_kid(kid: object) -> str:
    if not isinstance(kid, str) or not kid or len(kid) > 64:
        raise ConfigurationError(
            f"A token key id must be a string of 1 to 64 characters, got {kid!r}."
        )
    return kid


def _check_secret(kid: str, secret: object) -> bytes:
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    if not isinstance(raw, bytes):
        raise ConfigurationError(
            f"Token key {kid!r} must be bytes or a string, got {type(secret).__name__}."
        )
    if len(raw) < MIN_KEY_BYTES:
        raise ConfigurationError(
            f"Token key {kid!r} is {len(raw)} bytes; HS256 needs at least {MIN_KEY_BYTES}. Use "
            "TokenAuthority.generate() or secrets.token_bytes(32)."
        )
    return raw
