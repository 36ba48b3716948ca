"""Findings: one broken rule as data, and its one rendering as text and as JSON.

Every check of Aura reports :class:`Finding` records: the platform's verification
(:mod:`aura.verification`), the import contracts (:mod:`aura.architecture.linting`) and
``aura check`` (:mod:`aura.architecture.report`). They compute findings as data; these functions
render them, the same way everywhere:

- :func:`render_lines`: each finding as ``- [rule] place: message``, then ``  Fix: fix``;
- :func:`render_json`: JSON-ready data (a finding's :meth:`Finding.to_dict`) as JSON text.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

__all__ = ["Finding", "count", "render_json", "render_lines"]


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
