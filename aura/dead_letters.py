"""Dead letters: events a subscriber failed to handle, where they are kept, and when to retry.

A failing handler never stops the others: its failure is kept as a :class:`DeadLetter` in a
:class:`DeadLetterStore` (in memory by default, SQLite on a durable platform:
``aura.store.SqliteDeadLetterStore``). :meth:`aura.EventBus.retry_dead_letters` redelivers each
to the one subscriber that failed, as a :class:`RetryPolicy` allows. This module holds the data
and the store-level operations (list, purge, which letters are due); the redelivery itself is
the bus's delivery loop (:mod:`aura.delivery`).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import threading
import traceback
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from aura.events import Event
from aura.exceptions import ConfigurationError
from aura.ids import new_id

__all__ = [
    "LONGEST_WAIT",
    "ClaimingDeadLetterStore",
    "DeadLetter",
    "DeadLetterStore",
    "InMemoryDeadLetterStore",
    "RetryPolicy",
    "RetryReport",
    "check_letter_options",
    "check_letters_exist",
    "due_letters",
    "failed_again",
    "listing",
    "new_letter",
    "purge",
    "purge_chosen",
    "purged",
    "retry_policy_of",
]


@dataclasses.dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event that one subscriber failed to handle, kept for inspection and retry."""

    id: str
    event: Event
    subscriber_module: str
    handler_name: str
    error_type: str
    error_message: str
    traceback: str
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime

    def describe(self) -> str:
        """Return one line naming the event, the subscriber and the error."""
        return (
            f"{self.subscriber_module}:{self.handler_name} failed on {self.event.event_type!r} "
            f"(event {self.event.event_id}, {self.attempts} attempt"
            f"{'s' if self.attempts != 1 else ''}): {self.error_type}: {self.error_message}"
        )


class DeadLetterStore(Protocol):
    """Where a bus keeps its dead letters (in memory by default; durable stores implement it)."""

    def add(self, letter: DeadLetter) -> None:
        """Keep a new dead letter."""

    def replace(self, letter: DeadLetter) -> None:
        """Replace the dead letter with the same id (after a failed retry)."""

    def remove(self, letter_id: str) -> None:
        """Drop a dead letter (after a successful retry)."""

    def list(self) -> list[DeadLetter]:
        """Return every dead letter, oldest first."""


class ClaimingDeadLetterStore(DeadLetterStore, Protocol):
    """A store that lets one retry at a time take a letter (both of Aura's stores do): two
    concurrent retries of one letter then run its handler once."""

    def claim(self, letter_id: str) -> bool:
        """Take the letter for one retry; False when another retry has it (or it is gone)."""


class InMemoryDeadLetterStore:
    """A thread-safe, in-memory :class:`DeadLetterStore`."""

    def __init__(self) -> None:
        self._letters: dict[str, DeadLetter] = {}
        self._claimed: set[str] = set()
        self._lock = threading.Lock()

    def claim(self, letter_id: str) -> bool:
        """Take a letter for one retry; False when another retry has it or it is gone."""
        with self._lock:
            if letter_id not in self._letters or letter_id in self._claimed:
                return False
            self._claimed.add(letter_id)
            return True

    def release(self, letter_id: str) -> None:
        """Give back a claimed letter untouched (its retry did not run): claimable again."""
        with self._lock:
            self._claimed.discard(letter_id)

    def add(self, letter: DeadLetter) -> None:
        """Keep a new dead letter."""
        with self._lock:
            self._letters[letter.id] = letter

    def replace(self, letter: DeadLetter) -> None:
        """Replace the dead letter with the same id."""
        with self._lock:
            if letter.id in self._letters:
                self._letters[letter.id] = letter
            self._claimed.discard(letter.id)

    def remove(self, letter_id: str) -> None:
        """Drop a dead letter; unknown ids are ignored."""
        with self._lock:
            self._letters.pop(letter_id, None)
            self._claimed.discard(letter_id)

    def list(self) -> list[DeadLetter]:
        """Return every dead letter, oldest first."""
        with self._lock:
            return list(self._letters.values())


@dataclasses.dataclass(frozen=True, slots=True)
class RetryReport:
    """What :meth:`aura.EventBus.retry_dead_letters` did with each dead letter."""

    succeeded: tuple[DeadLetter, ...]
    failed: tuple[DeadLetter, ...]
    unroutable: tuple[DeadLetter, ...]
    """Dead letters whose subscriber is no longer subscribed; they are kept."""
    waiting: tuple[DeadLetter, ...] = ()
    """Dead letters the retry policy holds back: not due yet, or out of attempts; kept."""
    needs_async: tuple[DeadLetter, ...] = ()
    """Dead letters of ``async`` handlers, left for ``await bus.aretry_dead_letters()``; kept."""
    requeued: tuple[DeadLetter, ...] = ()
    """Dead letters whose retry the database failed for a moment (a lock, a full disk, a lost
    connection; a durable platform): no longer dead letters, they are delivered again by the
    platform after a wait, as any delivery the database failed (see
    ``aura.publications.TRANSIENT_RETRY``)."""

    def problem(self) -> str | None:
        """What the retry left undone, as ``manage.py aura dead-letters retry`` says it (and
        exits with status 1 for), or ``None`` when nothing is."""
        if self.failed:
            return "Some dead letters failed again."
        if self.requeued:
            return (
                "The database failed while some dead letters were retried; the platform "
                "delivers them again after a wait."
            )
        return None

    def summary(self) -> str:
        """One line of what was retried, as ``aura dead-letters retry`` prints it."""
        held = self.needs_async
        note = f", {len(held)} of async handlers (not retried here)" if held else ""
        if self.requeued:
            note += (
                f", {len(self.requeued)} handed back to delivery (the database failed; "
                "the platform delivers them again after a wait)"
            )
        return (
            f"Retried: {len(self.succeeded)} delivered, {len(self.failed)} failed again, "
            f"{len(self.waiting)} held back by the policy, {len(self.unroutable)} with no "
            f"subscriber{note}."
        )


LONGEST_WAIT = 365 * 24 * 3600
"""The longest wait a retry policy gives, in seconds (a year): its backoff and cap are at most
this, and a backoff that grows past it stops there."""
_LONGEST_WAIT_TEXT = "a year"


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When a dead letter may be retried: at most ``max_attempts`` attempts in all, the n-th
    retry waiting ``backoff * multiplier ** (n - 1)`` seconds after the last failure."""

    max_attempts: int = 5
    backoff: float = 0.0
    multiplier: float = 2.0
    maximum: float | None = None
    """The longest wait between two attempts, in seconds (``None``: no cap)."""

    def __post_init__(self) -> None:
        if type(self.max_attempts) is not int or self.max_attempts < 1:
            raise ConfigurationError(
                f"max_attempts must be an int of at least 1, got {self.max_attempts!r}. Pass "
                "e.g. max_attempts=5 (the first delivery included)."
            )
        multiplier = self.multiplier
        if (
            isinstance(multiplier, bool)
            or not isinstance(multiplier, int | float)
            or not 0 <= multiplier < math.inf  # NaN too
        ):
            raise ConfigurationError(
                f"multiplier must be a finite number of at least 0, got {multiplier!r}. Pass "
                "e.g. multiplier=2 (each wait twice the one before) or 1 (all alike)."
            )
        for name, example in (("backoff", 30), ("maximum", 3600)):
            value = getattr(self, name)
            if value is None and name == "maximum":
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0 <= value <= LONGEST_WAIT  # NaN too
            ):
                raise ConfigurationError(
                    f"{name} must be a number of seconds from 0 to {LONGEST_WAIT} "
                    f"({_LONGEST_WAIT_TEXT}), got {value!r}. Pass e.g. {name}={example}."
                )

    def wait(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt before the next one (at
        most :data:`LONGEST_WAIT`, however many attempts multiplied it)."""
        backoff, multiplier = float(self.backoff), float(self.multiplier)
        steps = max(attempts - 1, 0)
        if backoff == 0 or multiplier <= 1:  # no growth: no overflow
            wait = backoff * multiplier**steps
        elif steps * math.log(multiplier) >= math.log(LONGEST_WAIT / backoff):
            wait = LONGEST_WAIT  # past the cap (computing it could overflow a float)
        else:
            wait = min(backoff * multiplier**steps, LONGEST_WAIT)
        return wait if self.maximum is None else min(wait, float(self.maximum))

    def due(self, letter: DeadLetter, now: datetime) -> bool:
        """Whether ``letter`` may be retried at ``now``: attempts left, and its wait over (or a
        last failure later than ``now``: the clock was stepped back since, and waiting for it
        to catch up would hold the letter back by the size of the step)."""
        if letter.attempts >= self.max_attempts:
            return False
        if letter.last_failed_at > now:
            return True
        return now >= letter.last_failed_at + timedelta(seconds=self.wait(letter.attempts))


def retry_policy_of(max_attempts: int | None, backoff: float | None) -> RetryPolicy:
    """The policy of ``dead-letters retry``: ``--max-attempts`` and ``--backoff`` where given
    (``None`` when not). Without ``--max-attempts`` every letter is retried, however many
    attempts it had: an operator asking for a retry means it (a spent database retry leaves
    ten, a subscriber's own policy may allow more than five), and a letter held back would
    stay a dead letter with the command's success."""
    return RetryPolicy(
        max_attempts=sys.maxsize if max_attempts is None else max_attempts,
        backoff=0.0 if backoff is None else backoff,
    )


_OLDEST_DAYS = 36_525
"""The most ``--older-than-days`` takes: a century (more would overflow the date)."""


def check_letter_options(
    action: str,
    *,
    older_than_days: float | None,
    max_attempts: int | None,
    backoff: float | None,
    every: bool = False,
    ids: Sequence[str] | None = None,
    modules: str | None = None,
    command: str,
) -> None:
    """Refuse the options of ``<command> list|retry|purge`` that make no sense, before anything
    is opened (``--older-than-days -1`` would purge every letter); ``every`` and ``ids`` are
    ``--all`` and the ``--id`` values, ``modules`` the ``--modules`` package. ``purge`` takes
    exactly one way of choosing: ``--all``, ``--id`` (repeatable) or ``--older-than-days``;
    ``--max-attempts``, ``--backoff`` and ``--modules`` (``None`` when not given) belong to
    ``retry`` alone. Raises :class:`~aura.exceptions.ConfigurationError`."""
    days = older_than_days
    if days is not None and not 0 <= days <= _OLDEST_DAYS:  # NaN too
        raise ConfigurationError(
            f"--older-than-days must be a number of days from 0 to {_OLDEST_DAYS} (a century), "
            f"got {days!r}. Pass e.g. --older-than-days 7 (those last failed a week ago or "
            "more), or --all."
        )
    if max_attempts is not None and max_attempts < 1:
        raise ConfigurationError(
            f"--max-attempts must be a whole number of at least 1, got {max_attempts}. "
            "Pass e.g. --max-attempts 5 (attempts in all, the first delivery included)."
        )
    if backoff is not None and not 0 <= backoff <= LONGEST_WAIT:  # NaN too
        raise ConfigurationError(
            f"--backoff must be a number of seconds from 0 to {LONGEST_WAIT} (a year), got "
            f"{backoff!r}. Pass e.g. --backoff 30."
        )
    retry_only = [
        name
        for name, value in (
            ("--max-attempts", max_attempts),
            ("--backoff", backoff),
            ("--modules", modules),
        )
        if value is not None
    ]
    if action != "retry" and retry_only:
        raise ConfigurationError(
            f"{' and '.join(retry_only)} {'are' if len(retry_only) > 1 else 'is'} for 'retry' "
            f"alone: 'dead-letters {action}' would ignore "
            f"{'them' if len(retry_only) > 1 else 'it'}. Drop "
            f"{'them' if len(retry_only) > 1 else 'it'}, or run '{command} retry ...'."
        )
    given = [
        name
        for name, present in (
            ("--all", every),
            ("--id", bool(ids)),
            ("--older-than-days", days is not None),
        )
        if present
    ]
    if action != "purge":
        if given:
            raise ConfigurationError(
                f"--all, --id and --older-than-days choose what 'purge' drops; 'dead-letters "
                f"{action}' takes none of them. Run '{command} purge ...' instead."
            )
        return
    if not given:
        raise ConfigurationError(
            "Say what to purge: --all, --id ID (repeatable) or --older-than-days N."
        )
    if len(given) > 1:
        raise ConfigurationError(
            f"purge takes one way of choosing what it drops, got {' and '.join(given)}. Pass "
            "--all (every dead letter), --id ID (repeatable: those) or --older-than-days N "
            "(those last failed N days ago or more); nothing was purged."
        )
    blank = [letter_id for letter_id in ids or () if not letter_id.strip()]
    if blank:
        raise ConfigurationError(
            f"--id needs a dead letter's id, got {blank[0]!r}. Pass the ids that "
            f"'{command} list' prints."
        )


def check_letters_exist(
    known: Iterable[str], ids: Sequence[str] | None, *, command: str, where: str
) -> None:
    """Refuse a purge by ``--id`` naming a dead letter that is not there, before any is
    dropped: a typo would otherwise report "Purged 0" and leave the letter meant."""
    if not ids:
        return
    missing = sorted(set(ids) - set(known))
    if missing:
        raise ConfigurationError(
            f"No dead letter with the id{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(repr, missing))} in {where}; nothing "
            f"was purged. '{command} list' prints the ids there are."
        )


def listing(letters: Sequence[DeadLetter]) -> list[str]:
    """The lines ``dead-letters list`` prints: one per letter (its id, then what failed), then
    how many there are."""
    lines = [f"{letter.id}  {letter.describe()}" for letter in letters]
    lines.append(f"{len(letters)} dead letter{'s' if len(letters) != 1 else ''}.")
    return lines


def purged(count: int) -> str:
    """The line ``dead-letters purge`` prints once ``count`` letters are dropped."""
    return f"Purged {count} dead letter{'s' if count != 1 else ''}."


def purge_chosen(
    stores: Sequence[DeadLetterStore],
    *,
    ids: Sequence[str] | None,
    every: bool,
    older_than_days: float | None,
    command: str,
    where: str,
) -> int:
    """``dead-letters purge``: refuse an ``--id`` that none of ``stores`` holds before anything
    is dropped, then drop what the options choose from each; return how many were dropped."""
    chosen = None if every or not ids else list(ids)
    known = [letter.id for store in stores for letter in store.list()]
    check_letters_exist(known, chosen, command=command, where=where)
    older_than = None if older_than_days is None else timedelta(days=older_than_days)
    return sum(purge(store, letter_ids=chosen, older_than=older_than) for store in stores)


def new_letter(event: Event, module: str, handler_name: str, exc: BaseException) -> DeadLetter:
    """The dead letter of a first failed delivery of ``event`` to ``module:handler_name``."""
    now = datetime.now(UTC)
    return DeadLetter(
        id=new_id(),
        event=event,
        subscriber_module=module,
        handler_name=handler_name,
        error_type=type(exc).__qualname__,
        error_message=str(exc),
        traceback="".join(traceback.format_exception(exc)),
        attempts=1,
        first_failed_at=now,
        last_failed_at=now,
    )


def failed_again(store: DeadLetterStore, letter: DeadLetter, exc: BaseException) -> DeadLetter:
    """Record one more failed attempt of ``letter`` in ``store``; return the updated letter."""
    updated = dataclasses.replace(
        letter,
        error_type=type(exc).__qualname__,
        error_message=str(exc),
        traceback="".join(traceback.format_exception(exc)),
        attempts=letter.attempts + 1,
        last_failed_at=datetime.now(UTC),
    )
    store.replace(updated)
    return updated


def due_letters(
    store: DeadLetterStore, policy: RetryPolicy | None
) -> tuple[list[DeadLetter], tuple[DeadLetter, ...]]:
    """Split the stored letters into those ``policy`` lets retry now and those it holds back."""
    letters = store.list()
    if policy is None:
        return letters, ()
    now = datetime.now(UTC)
    return (
        [letter for letter in letters if policy.due(letter, now)],
        tuple(letter for letter in letters if not policy.due(letter, now)),
    )


def purge(
    store: DeadLetterStore,
    *,
    letter_ids: Iterable[str] | None = None,
    older_than: timedelta | None = None,
) -> int:
    """Drop dead letters (the given ids, those last failed ``older_than`` ago, or all); return
    how many were dropped."""
    ids = set(letter_ids) if letter_ids is not None else None
    cutoff = datetime.now(UTC) - older_than if older_than is not None else None
    dropped = 0
    for letter in store.list():
        if (ids is None or letter.id in ids) and (
            cutoff is None or letter.last_failed_at <= cutoff
        ):
            store.remove(letter.id)
            dropped += 1
    return dropped
