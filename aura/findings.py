"""Findings: one broken rule as data, and its one rendering as text and as JSON.

Every check of Aura reports :class:`Finding` records: the platform's verification
(:mod:`aura.verification`), the import contracts (:mod:`aura.architecture.linting`) and
``aura check`` (:mod:`aura.architecture.report`). They compute findings as data; these functions
render them, the same way everywhere:

- :func:`render_line`: a finding on one line, ``path:line: <message>; <fix>``, as ``aura check``
  and the ``module_dependencies`` contract print it (the place is the module when there is no
  path, and the message and fix of a full sentence are written as clauses);
- :func:`render_lines`: each finding as ``- [rule] place: message``, then ``  Fix: fix`` (the
  platform's verification report);
- :func:`render_json`: JSON-ready data (a finding's :meth:`Finding.to_dict`) as JSON text.

:func:`by_place` orders findings as a reader goes through them: by file and line, then those
without a place.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from typing import Any

PLATFORM_VERIFICATION = "platform verification"
"""The source of the findings of :func:`aura.verification.verify` (and its name in
``aura check``)."""

__all__ = [
    "PLATFORM_VERIFICATION",
    "Finding",
    "by_place",
    "count",
    "describe",
    "render_json",
    "render_line",
    "render_lines",
]

_CAPITALISED = re.compile(r"^[A-Z][a-z]+(?=[\s:,;]|$)")
"""A first word that is capitalised only because it starts a sentence ("Add", "Service")."""
_BREAK = re.compile(r"\s*\n\s*")


@dataclasses.dataclass(frozen=True, order=True, kw_only=True)
class Finding:
    """One broken rule: what found it, where, what is wrong and how to fix it.

    Findings sort by source, then module, rule and subject: a module's findings come together.
    """

    source: str = ""
    """What found it, such as ``"platform verification"`` or ``"import contract <id>"``."""
    module: str = ""
    """The Aura module at fault (for a cycle, its first module); empty for an import chain."""
    rule: str = ""
    """The rule's code, such as ``"unused-dependency"``; empty for an import chain."""
    subject: str = ""
    """What the finding is about (a dependency, an event type, a service), for a stable key."""
    key: str = ""
    """A stable identity without line numbers, so that baselines survive edits.

    By default ``"<rule> <module> <subject>"``; an import chain gives its modules,
    ``"a -> b -> c"``.
    """
    message: str
    """What is wrong, in one sentence (without the place)."""
    fix: str = ""
    """How to fix it, when there is one way to say."""
    location: str = ""
    """``path:line`` (or ``path``) when the finding has a place in the source."""

    def __post_init__(self) -> None:
        if not self.key:
            parts = (self.rule, self.module, self.subject)
            object.__setattr__(self, "key", " ".join(part for part in parts if part))

    @property
    def identity(self) -> str:
        """The line that stands for this finding in a baseline file: ``"<source>: <key>"``."""
        return f"{self.source}: {self.key}" if self.source else self.key

    def to_dict(self) -> dict[str, str]:
        """Return the finding as JSON-ready data, one entry per field."""
        return dataclasses.asdict(self)


def render_line(finding: Finding) -> str:
    """Return ``finding`` on one line: ``<place>: <message>; <fix>``.

    The place is the finding's location (``path:line``), else its module, else its source (an
    import chain of an import contract). An import chain placed at its contract's section is
    ``path:line: import contract <id>: <chain>``, so that the line still names the contract. A
    message or fix written as a full sentence (the platform's verification: ``"Add 'x' to
    depends_on."``) is written as a clause, like those of the module map: the first word in
    lower case when it is an ordinary word, no final period.
    """
    place = finding.location or finding.module or finding.source
    text = describe(finding)
    if finding.location and finding.source and not finding.rule:  # an import contract's chain
        text = f"{finding.source}: {text}"
    return f"{place}: {text}" if place else text


def describe(finding: Finding) -> str:
    """Return ``<message>; <fix>`` of ``finding`` as one line, without its place."""
    parts = [_clause(finding.message), _clause(finding.fix)]
    return "; ".join(part for part in parts if part)


def _clause(text: str) -> str:
    text = _BREAK.sub(" ", text.strip())
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1]
    return _CAPITALISED.sub(lambda word: word.group().lower(), text, count=1)


def by_place(finding: Finding) -> tuple[int, str, int, Finding]:
    """Sort key: findings with a place first, by file and line; then the others, as they sort."""
    path, _, line = finding.location.rpartition(":")
    if not line.isdigit():
        path, line = finding.location, "0"
    return (0 if path else 1, path, int(line), finding)


def render_lines(findings: Iterable[Finding], *, indent: str = "") -> list[str]:
    """Return the lines of ``findings``: ``- [rule] place: message``, then ``  Fix: fix``.

    The rule and the place are left out when the finding has none (an import chain);
    ``indent`` goes before every line.
    """
    lines = []
    for finding in findings:
        rule = f"[{finding.rule}] " if finding.rule else ""
        where = f"{finding.location}: " if finding.location else ""
        lines.append(f"{indent}- {rule}{where}{finding.message}")
        if finding.fix:
            lines.append(f"{indent}  Fix: {finding.fix}")
    return lines


def render_json(data: Any) -> str:
    """Return JSON-ready ``data`` as JSON text: indented, keys sorted, the same every run."""
    return json.dumps(data, indent=2, sort_keys=True)


def count(number: int, noun: str) -> str:
    """Return ``number`` and ``noun``, plural unless one: ``"1 problem"``, ``"4 problems"``."""
    return f"{number} {noun}{'s' * (number != 1)}"
