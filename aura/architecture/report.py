"""The report of ``aura check``: findings as data, baselines, and text and JSON renderings.

A :class:`Finding` is one violation, from an import contract or from the platform's
verification, with a stable identity that ignores line numbers. A baseline file records the
identities accepted today; with it, only new findings fail, and a baselined finding that is gone
is reported until the baseline is rewritten, so that the baseline only shrinks.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aura.exceptions import ConfigurationError

__all__ = ["CheckReport", "Finding", "read_baseline", "write_baseline"]

BASELINE_FORMAT = 1


@dataclasses.dataclass(frozen=True, order=True)
class Finding:
    """One violation found by ``aura check``."""

    source: str
    """What found it: ``import contract <id>`` or ``platform verification``."""
    key: str
    """Its stable identity within the source (no line numbers)."""
    message: str
    fix: str = ""

    @property
    def identity(self) -> str:
        """The line that stands for this finding in a baseline file."""
        return f"{self.source}: {self.key}"

    def to_dict(self, *, baselined: bool) -> dict[str, Any]:
        """Return the finding as JSON-ready data."""
        return {
            "source": self.source,
            "key": self.key,
            "message": self.message,
            "fix": self.fix,
            "baselined": baselined,
        }


@dataclasses.dataclass(frozen=True)
class CheckReport:
    """Every finding, sorted, and how it compares with a baseline."""

    findings: tuple[Finding, ...]
    baseline: frozenset[str] = frozenset()
    notes: tuple[str, ...] = ()

    @property
    def new(self) -> tuple[Finding, ...]:
        """The findings not in the baseline: they fail the check."""
        return tuple(f for f in self.findings if f.identity not in self.baseline)

    @property
    def fixed(self) -> tuple[str, ...]:
        """Baseline entries no longer found: they fail until the baseline is rewritten."""
        current = {finding.identity for finding in self.findings}
        return tuple(sorted(self.baseline - current))

    @property
    def ok(self) -> bool:
        """Whether the check passes."""
        return not self.new and not self.fixed

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "ok": self.ok,
            "violations": [
                finding.to_dict(baselined=finding.identity in self.baseline)
                for finding in self.findings
            ],
            "fixed_in_baseline": list(self.fixed),
            "notes": list(self.notes),
        }

    def render_json(self) -> str:
        """Return the report as JSON, keys sorted."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def render_text(self) -> str:
        """Return the report as text: a summary line, then the new findings by source."""
        lines = [*self.notes, self._summary()]
        source = None
        for finding in self.new:
            if finding.source != source:
                source = finding.source
                lines.extend(["", f"{source}:"])
            lines.append(f"  - {finding.message}")
            if finding.fix:
                lines.append(f"    Fix: {finding.fix}")
        if self.fixed:
            lines.extend(
                ["", "Fixed, but still in the baseline (rewrite it with --update-baseline):"]
            )
            lines.extend(f"  - {identity}" for identity in self.fixed)
        return "\n".join(lines)

    def _summary(self) -> str:
        if not self.findings and not self.fixed:
            return "aura check: no violations."
        parts = [_count(len(self.new), "new violation" if self.baseline else "violation")]
        if self.baseline:
            parts.append(f"{len(self.findings) - len(self.new)} baselined")
            parts.append(f"{len(self.fixed)} fixed in the baseline")
        return f"aura check: {', '.join(parts)}."


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' * (number != 1)}"


def read_baseline(path: Path) -> frozenset[str]:
    """Read the identities recorded in a baseline file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(
            f"Baseline file {path} does not exist. Create it with "
            f"`aura check --baseline {path} --update-baseline`."
        ) from None
    except json.JSONDecodeError as error:
        raise ConfigurationError(
            f"Baseline file {path} is not JSON ({error}). Rewrite it with --update-baseline."
        ) from None
    if not isinstance(data, dict):
        data = {}
    violations = data.get("violations")
    if data.get("aura_check_baseline") != BASELINE_FORMAT or not isinstance(violations, list):
        raise ConfigurationError(
            f"Baseline file {path} is not an aura check baseline (format {BASELINE_FORMAT}): "
            'expected {"aura_check_baseline": 1, "violations": [...]}. Rewrite it with '
            "--update-baseline."
        )
    return frozenset(str(violation) for violation in violations)


def write_baseline(path: Path, findings: Iterable[Finding]) -> None:
    """Record the identities of ``findings`` in a baseline file, sorted, one per line."""
    identities = sorted({finding.identity for finding in findings})
    data = {"aura_check_baseline": BASELINE_FORMAT, "violations": identities}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
