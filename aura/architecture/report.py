"""The report of ``aura check``: its findings, baselines, and its text and JSON renderings.

Each violation is a :class:`~aura.findings.Finding`, from an import contract or from the
platform's verification, with a stable identity (:attr:`~aura.findings.Finding.identity`) that
ignores line numbers. A baseline file records the identities accepted today; with it, only new
findings fail, and a baselined finding that is gone is reported until the baseline is rewritten,
so that the baseline only shrinks.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aura.exceptions import ConfigurationError
from aura.findings import Finding, count, render_json, render_lines

__all__ = ["CheckReport", "read_baseline", "write_baseline"]

BASELINE_FORMAT = 1


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
                {**finding.to_dict(), "baselined": finding.identity in self.baseline}
                for finding in self.findings
            ],
            "fixed_in_baseline": list(self.fixed),
            "notes": list(self.notes),
        }

    def render_json(self) -> str:
        """Return the report as JSON, keys sorted."""
        return render_json(self.to_dict())

    def render_text(self) -> str:
        """Return the report as text: a summary line, then the new findings by source."""
        lines = [*self.notes, self._summary()]
        source = None
        for finding in self.new:
            if finding.source != source:
                source = finding.source
                lines.extend(["", f"{source}:"])
            lines.extend(render_lines([finding], indent="  "))
        if self.fixed:
            lines.extend(
                ["", "Fixed, but still in the baseline (rewrite it with --update-baseline):"]
            )
            lines.extend(f"  - {identity}" for identity in self.fixed)
        return "\n".join(lines)

    def _summary(self) -> str:
        if not self.findings and not self.fixed:
            return "aura check: no violations."
        parts = [count(len(self.new), "new violation" if self.baseline else "violation")]
        if self.baseline:
            parts.append(f"{len(self.findings) - len(self.new)} baselined")
            parts.append(f"{len(self.fixed)} fixed in the baseline")
        return f"aura check: {', '.join(parts)}."


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
