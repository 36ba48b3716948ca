"""The report of ``aura check``: its findings, baselines, and its text and JSON renderings.

Each violation is a :class:`~aura.findings.Finding`, from the module map's boundary checks, an
import contract or the platform's verification, with a stable identity
(:attr:`~aura.findings.Finding.identity`) that ignores line numbers and files. A baseline file
records the identities accepted today, one entry per occurrence (an identity found three times
is listed three times), so that it ratchets: with it, an identity found more often than
baselined fails (its extra occurrences are new), and one found less often than baselined is
reported as fixed until the baseline is rewritten, so that the baseline only shrinks.

The text report gives one line per new violation (:func:`~aura.findings.render_line`), sorted by
place, and ends with a summary of what was checked: a run that checked nothing must not read like
one that found nothing. :data:`RULES` describes each rule once, for the SARIF log
(:mod:`aura.architecture.sarif`) and the ``module_dependencies`` contract's report.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from aura.exceptions import ConfigurationError
from aura.findings import Finding, by_place, count, render_json, render_line

__all__ = ["RULES", "CheckReport", "Rule", "read_baseline", "rule_of", "write_baseline"]

BASELINE_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class Rule:
    """What one rule says: a title (a heading, SARIF's short description) and its help."""

    id: str
    title: str
    help: str = ""


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {rule.id: rule for rule in rules}


RULES: Mapping[str, Rule] = _rules(
    Rule(
        "undeclared-dependency",
        "Uses of modules not declared in depends_on",
        "A module uses another module (imports it, looks up one of its services, or couples to "
        "it by a string such as a model label) only if it lists that module in depends_on. Add "
        "the dependency to the module's declaration, or stop using the other module: react to "
        "its events instead.",
    ),
    Rule(
        "unknown-module",
        "Lookups of modules that do not exist",
        "A service lookup names a module that is not in the module map. Correct the module's "
        "name, or declare the module.",
    ),
    Rule(
        "internal-import",
        "Imports of another module's internals",
        "A module imports a module it depends on only through its published interface "
        "(interface in [tool.aura.boundaries]; by default the module's package itself). Import "
        "from the published API, or add the sub-package to the other module's interface.",
    ),
    Rule(
        "layer",
        "Imports against the layers inside a module",
        "Inside a module, a layer imports only the layers below it, and independent siblings "
        "(a | b) do not import each other. Move the code, or depend on an abstraction in a lower "
        "layer.",
    ),
    Rule(
        "dependency-cycle",
        "Cycles between modules",
        "Modules do not depend on each other in a cycle (declared dependencies, imports and "
        "lookups together). Break the cycle: let one module react to another's events, or move "
        "the shared code into a module both depend on.",
    ),
    Rule(
        "event-without-publisher",
        "Subscriptions to events no module publishes",
        "A module subscribes only to event types that some module declares it publishes. "
        "Correct the event type, or declare it in the publishing module's publishes.",
    ),
    Rule(
        "undeclared-event",
        "Events published but not declared",
        "A module that declares what it publishes publishes only those event types. Add the "
        "event type to its publishes, or correct it.",
    ),
    Rule(
        "syntax-error",
        "Files that cannot be parsed",
        "Every file of a module is read; a file the running Python cannot parse might import "
        "anything, so it is a violation, never skipped. Fix the file, or run the check with the "
        "Python version the project targets.",
    ),
    Rule(
        "contract-not-implemented",
        "Services that do not implement their contract",
        "A service registered with a contract implements every method of the contract, with "
        "the contract's signature.",
    ),
    Rule(
        "event-without-contract",
        "Subscriptions to events without an event contract",
        "Every subscribed event type has an event contract (@event_contract on a dataclass or "
        "a pydantic model), so that what is published is validated.",
    ),
    Rule(
        "unused-dependency",
        "Dependencies declared but never used",
        "A module declares in depends_on only the modules its code uses: imports, service "
        "lookups, string couplings. It needs no dependency to subscribe to another module's "
        "events.",
    ),
    Rule(
        "undeclared-call",
        "Calls to modules not declared in depends_on",
        "A module calls the services only of the modules it lists in depends_on.",
    ),
    Rule(
        "declaration-conflict",
        "Declarations that disagree",
        "A module declared both in the module map and by its Module(...) declares the same "
        "dependencies in both places.",
    ),
    Rule(
        "platform-build",
        "Platforms that cannot be built",
        "The platform built from the modules package starts, so that it can be verified. Fix "
        "the error the message names.",
    ),
)
"""Every rule Aura's checks report, by id."""


def rule_of(finding: Finding) -> str:
    """The id of the rule ``finding`` breaks: its ``rule``, or ``import-contract/<id>`` for an
    import chain of an import-linter contract."""
    if finding.rule:
        return finding.rule
    contract = finding.source.removeprefix("import contract ")
    if contract != finding.source:
        return f"import-contract/{contract}"
    return "-".join(finding.source.split()) or "aura"


@dataclasses.dataclass(frozen=True)
class CheckReport:
    """Every finding, sorted by place, how it compares with a baseline, and what was checked."""

    findings: tuple[Finding, ...]
    baseline: Mapping[str, int] = dataclasses.field(default_factory=dict)
    """How many occurrences of each identity the baseline accepts."""
    notes: tuple[str, ...] = ()
    modules: int = 0
    """The modules of the module map that were checked."""
    files: int = 0
    """Their source files."""
    contracts: int = 0
    """The import-linter contracts that were checked."""
    _new: frozenset[Finding] = dataclasses.field(
        default=frozenset(), init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        findings = tuple(sorted(set(self.findings), key=by_place))
        object.__setattr__(self, "findings", findings)
        object.__setattr__(self, "baseline", Counter(self.baseline))
        # The baseline records no places: of an identity found more often than it accepts, the
        # first occurrences by place are taken as the accepted ones and the others as new.
        seen: Counter[str] = Counter()
        new = set()
        for finding in findings:
            seen[finding.identity] += 1
            if seen[finding.identity] > self.baseline.get(finding.identity, 0):
                new.add(finding)
        object.__setattr__(self, "_new", frozenset(new))

    @property
    def new(self) -> tuple[Finding, ...]:
        """The findings beyond what the baseline accepts: they fail the check."""
        return tuple(f for f in self.findings if f in self._new)

    @property
    def fixed(self) -> tuple[str, ...]:
        """Baseline entries no longer found, one per occurrence (sorted): they fail until the
        baseline is rewritten."""
        found = Counter(finding.identity for finding in self.findings)
        return tuple(sorted((Counter(self.baseline) - found).elements()))

    @property
    def ok(self) -> bool:
        """Whether the check passes."""
        return not self.new and not self.fixed

    def baselined(self, finding: Finding) -> bool:
        """Whether ``finding`` (one of :attr:`findings`) is accepted by the baseline."""
        return finding not in self._new

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "ok": self.ok,
            "modules": self.modules,
            "files": self.files,
            "import_contracts": self.contracts,
            "violations": [
                {**finding.to_dict(), "baselined": self.baselined(finding)}
                for finding in self.findings
            ],
            "fixed_in_baseline": list(self.fixed),
            "notes": list(self.notes),
        }

    def render_json(self) -> str:
        """Return the report as JSON, keys sorted."""
        return render_json(self.to_dict())

    def render_text(self) -> str:
        """Return the report as text: the notes, one line per new finding, then the summary."""
        lines = [*self.notes, *(render_line(finding) for finding in self.new)]
        if self.fixed:
            lines.append("Fixed, but still in the baseline (rewrite it with --update-baseline):")
            for identity, fixed in Counter(self.fixed).items():
                accepted = self.baseline[identity]
                gone = f" ({fixed} of {accepted} fixed)" if accepted > 1 else ""
                lines.append(f"  - {identity}{gone}")
        lines.append(self._summary())
        return "\n".join(lines)

    def _summary(self) -> str:
        checked = f"{count(self.modules, 'module')} ({count(self.files, 'file')})"
        if self.contracts:
            checked += f" and {count(self.contracts, 'import contract')}"
        if not self.findings and not self.fixed:
            return f"aura check: no violations in {checked}."
        if not self.baseline:
            return f"aura check: {count(len(self.new), 'violation')} in {checked}."
        baselined = len(self.findings) - len(self.new)
        return (
            f"aura check: {count(len(self.new), 'new violation')} ({baselined} baselined, "
            f"{len(self.fixed)} fixed in the baseline) in {checked}."
        )


def read_baseline(path: Path) -> Counter[str]:
    """Read a baseline file: how many occurrences of each identity it accepts.

    Each entry of ``violations`` is one occurrence; a file that lists every identity once (as
    Aura wrote them before it counted) accepts one occurrence of each.
    """
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
    except (OSError, UnicodeDecodeError) as error:  # a folder, unreadable, not text
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigurationError(
            f"Cannot read the baseline file {path}: {reason}. Pass the JSON file that "
            f"`aura check --baseline FILE --update-baseline` writes."
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
    return Counter(str(violation) for violation in violations)


def write_baseline(path: Path, findings: Iterable[Finding]) -> int:
    """Record the identities of ``findings`` in a baseline file, one entry per occurrence, sorted
    (an identity found twice is listed twice); return how many entries it holds."""
    identities = sorted(finding.identity for finding in set(findings))
    data = {"aura_check_baseline": BASELINE_FORMAT, "violations": identities}
    if path.is_dir():
        raise ConfigurationError(
            f"Cannot write the baseline file {path}: it is a folder. Pass the path of a file, "
            f"e.g. {(path / 'aura-baseline.json').as_posix()}."
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(
            f"Cannot write the baseline file {path}: {error.strerror or error}. Pass a file path "
            "in a folder you can write to."
        ) from None
    return len(identities)
