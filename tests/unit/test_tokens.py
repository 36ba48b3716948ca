"""The gateway's bearer tokens (aura.web.auth) and the `aura token` command."""

from __future__ import annotations

import io
import json
import stat
from datetime import timedelta
from pathlib import Path

import jwt
import pytest

from aura.access import Principal
from aura.cli import main
from aura.exceptions import AuthenticationError, ConfigurationError
from aura.testing.plugin import FrozenClock
from aura.web.auth import TokenAuthority

SECRET = b"s" * 32


def refusal(authority: TokenAuthority, token: str) -> str:
    with pytest.raises(AuthenticationError) as caught:
        authority.authenticate(token)
    assert caught.value.reason == "invalid_token"
    return str(caught.value)


def test_an_issued_token_authenticates_as_its_principal() -> None:
    authority = TokenAuthority({"k1": SECRET})
    token = authority.issue("user:7", roles=["patient"], user_id=7)
    principal = authority.authenticate(token)
    assert (principal.subject, principal.roles, principal.user_id) == (
        "user:7",
        frozenset({"patient"}),
        7,
    )
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "kid": "k1", "typ": "JWT"}
    assert set(principal.claims) == {
        "iss",
        "aud",
        "sub",
        "iat",
        "nbf",
        "exp",
        "jti",
        "roles",
        "user_id",
    }
    assert isinstance(principal, Principal)


def test_a_token_expires_after_its_ttl_and_the_leeway(frozen_time: FrozenClock) -> None:
    authority = TokenAuthority({"k1": SECRET}, ttl=timedelta(minutes=15))
    token = authority.issue("service:ops", roles=["operator"])
    frozen_time.tick(timedelta(minutes=15, seconds=9))
    assert authority.authenticate(token).subject == "service:ops"  # within the 10 s leeway
    frozen_time.tick(timedelta(seconds=2))
    assert refusal(authority, token) == "The bearer token has expired. Log in again."


def test_tokens_of_another_audience_issuer_or_key_are_refused() -> None:
    authority = TokenAuthority({"k1": SECRET})
    other_audience = TokenAuthority({"k1": SECRET}, audience="billing-api").issue("x")
    assert refusal(authority, other_audience) == (
        "The bearer token is not meant for this gateway (audience 'aura-gateway')."
    )
    other_issuer = TokenAuthority({"k1": SECRET}, issuer="evil").issue("x")
    assert refusal(authority, other_issuer) == "The bearer token was not issued by 'aura'."
    forged = TokenAuthority({"k1": b"f" * 32}).issue("x")
    assert refusal(authority, forged) == "The bearer token's signature is not valid."
    unknown_key = TokenAuthority({"k9": SECRET}).issue("x")
    assert refusal(authority, unknown_key) == (
        "The bearer token was signed with a key this gateway does not hold (retired, or "
        "another issuer's). Log in again."
    )


def test_alg_none_tampered_and_garbage_tokens_are_refused() -> None:
    authority = TokenAuthority({"k1": SECRET})
    claims = jwt.decode(
        authority.issue("user:7", roles=["patient"], user_id=7),
        SECRET,
        algorithms=["HS256"],
        audience="aura-gateway",
    )
    unsigned = jwt.encode(
        {**claims, "roles": ["operator"]}, None, algorithm="none", headers={"kid": "k1"}
    )
    assert refusal(authority, unsigned) == (
        "The bearer token is signed with 'none'; this gateway accepts HS256 only."
    )
    header, _, signature = authority.issue("user:7", roles=["patient"]).split(".")
    escalated = jwt.utils.base64url_encode(json.dumps({**claims, "roles": ["operator"]}).encode())
    tampered = f"{header}.{escalated.decode()}.{signature}"
    assert refusal(authority, tampered) == "The bearer token's signature is not valid."
    assert refusal(authority, "not-a-token") == "The bearer token is not a JWT."
    missing = jwt.encode({"sub": "x"}, SECRET, algorithm="HS256", headers={"kid": "k1"})
    assert refusal(authority, missing) == "The bearer token lacks the claim 'iss'."


def test_rotation_keeps_old_tokens_valid_until_their_key_is_retired() -> None:
    old = TokenAuthority({"k1": SECRET})
    before = old.issue("user:7", user_id=7)
    rotated = old.rotate()
    assert rotated.key_ids[1:] == ["k1"]
    after = rotated.issue("user:7", user_id=7)
    assert jwt.get_unverified_header(after)["kid"] == rotated.key_ids[0]
    assert rotated.authenticate(before).user_id == 7
    retired = rotated.retire("k1")
    assert retired.authenticate(after).user_id == 7
    assert refusal(retired, before).startswith("The bearer token was signed with a key")
    with pytest.raises(ConfigurationError) as caught:
        retired.retire(retired.key_ids[0])
    assert str(caught.value) == (
        f"Key {retired.key_ids[0]!r} is the only token key; rotate a new one in before retiring it."
    )


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            {},
            "A TokenAuthority needs at least one key. Build one with TokenAuthority.generate() "
            "or pass keys={'key-id': secret}.",
        ),
        (
            {"k1": b"short"},
            "Token key 'k1' is 5 bytes; HS256 needs at least 32. Use "
            "TokenAuthority.generate() or secrets.token_bytes(32).",
        ),
        ({"": SECRET}, "A token key id must be a string of 1 to 64 characters, got ''."),
    ],
)
def test_bad_keys_are_refused(keys: dict[str, bytes], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        TokenAuthority(keys)
    assert str(caught.value) == message


def test_the_key_file_is_private_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "var" / "token-keys.json"
    created = TokenAuthority.from_file(path, create=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = TokenAuthority.from_file(path)
    assert again.key_ids == created.key_ids
    assert again.authenticate(created.issue("x")).subject == "x"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        TokenAuthority.from_file(path)
    assert str(caught.value).startswith(f"The token key file {path} is not readable as Aura's")
    with pytest.raises(ConfigurationError) as missing:
        TokenAuthority.from_file(tmp_path / "none.json")
    assert str(missing.value) == (
        f"No token key file at {tmp_path / 'none.json'}. Run 'aura token rotate' to create one."
    )


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["token", *argv], out)
    return code, out.getvalue()


def test_aura_token_issues_rotates_and_retires(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = tmp_path / "keys" / "keys.json"
    monkeypatch.setenv("AURA_TOKEN_KEYS", str(keys))
    assert run("issue", "--role", "operator") == (  # no server holds a key made now
        2,
        f"aura token: error: No key file at {keys}: a token signed with a new one would be "
        "refused by every server. Start the server once (aura serve creates it), point "
        "$AURA_TOKEN_KEYS or token_keys in [tool.aura.web] at the server's file, or run 'aura "
        "token rotate' to create it. Nothing was created.\n",
    )
    assert list(tmp_path.iterdir()) == []
    assert run("rotate")[0] == 0  # creates the file
    code, printed = run("issue", "--subject", "ops", "--role", "operator", "--ttl-minutes", "5")
    assert code == 0
    first = TokenAuthority.from_file(keys)
    principal = first.authenticate(printed.strip())
    assert (principal.subject, principal.roles) == ("ops", frozenset({"operator"}))
    code, printed = run("rotate")
    assert code == 0
    rotated = TokenAuthority.from_file(keys)
    assert printed == (
        f"New signing key {rotated.key_ids[0]} in {keys}; 1 older key(s) still verify. Restart "
        "the server to use it.\n"
    )
    assert run("keys") == (0, "\n".join(rotated.key_ids) + "\n")
    old = first.key_ids[0]
    assert run("retire", old) == (
        0,
        f"Retired key {old}; tokens it signed are refused after a restart.\n",
    )
    assert TokenAuthority.from_file(keys).key_ids == rotated.key_ids[:1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        *(
            (
                ("issue", "--ttl-minutes", given),
                f"--ttl-minutes must be more than 0 and at most 527040 (a year), got {shown}. "
                "Pass e.g. 60.",
            )
            for given, shown in (("0", "0.0"), ("inf", "inf"), ("nan", "nan"), ("1e308", "1e+308"))
        ),
        (
            ("issue", "KEY"),
            "'aura token issue' takes no key id, got 'KEY': only 'aura token retire <kid>' does.",
        ),
        (
            ("keys", "--role", "operator", "--ttl-minutes", "5"),
            "--role, --ttl-minutes shape only the token 'aura token issue' makes: 'aura token "
            "keys' would ignore them. Drop them, or run 'aura token issue ...'.",
        ),
        (
            ("rotate", "--subject", "ops"),
            "--subject shapes only the token 'aura token issue' makes: 'aura token rotate' "
            "would ignore it. Drop it, or run 'aura token issue ...'.",
        ),
        (("retire",), "retire needs the id of a key: aura token retire <kid>."),
        (("retire", "nope"), "No token key 'nope' to retire. The keys are: KEY."),
    ],
)
def test_aura_token_refuses_bad_arguments_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...], message: str
) -> None:
    keys = tmp_path / "keys.json"
    monkeypatch.setenv("AURA_TOKEN_KEYS", str(keys))
    TokenAuthority({"KEY": SECRET}).save(keys)
    before = keys.read_bytes()
    assert run(*argv) == (2, f"aura token: error: {message}\n")
    assert keys.read_bytes() == before
