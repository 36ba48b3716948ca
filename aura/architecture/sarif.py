"""``aura check --format sarif``: the report as a SARIF 2.1.0 log, for GitHub code scanning.

One run, whose tool is ``aura``, with one rule per rule id the findings break (its title and its
help from :data:`~aura.architecture.report.RULES`) and one result per finding:

- ``level`` ``"error"``; ``message.text`` the finding's message and fix on one line;
- one location, ``path`` relative to ``%SRCROOT%`` (the project root) with its start line; a
  file outside the root (a source root such as ``../shared``) has an absolute ``file://`` URI
  and no ``uriBaseId``, since SARIF wants a relative URI with one. Code
  scanning refuses a whole log in which one result has no location, so a finding without a place
  (a cycle between modules, a service that breaks its contract) is put where its module is
  declared, and an import chain where its contract is configured (the ``anchors``);
- ``partialFingerprints``: a hash of the finding's identity (which has no line numbers) and its
  file, numbered when one file holds the same finding twice, so that code scanning follows an
  alert across edits that move it;
- with a baseline, ``baselineState``: ``"new"`` for a new finding; a baselined one stays in the
  log as ``"unchanged"`` with level ``"note"``, so that the accepted debt stays visible without
  failing anything (rather than being dropped, or suppressed, which code scanning shows as
  dismissed by someone). Baseline entries that are fixed have no place in the code: they are,
  with the report's notes, the run's tool execution notifications.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aura
from aura.architecture.report import RULES, CheckReport, Rule, rule_of
from aura.findings import Finding, describe, render_json

__all__ = ["INFORMATION_URI", "SCHEMA", "render_sarif", "sarif_log"]

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/aura-modulith/"
_ROOT = "%SRCROOT%"
_FINGERPRINT = "auraFindingIdentity/v1"


def render_sarif(
    report: CheckReport,
    *,
    root: Path,
    anchors: Mapping[str, str] | None = None,
    rules: Mapping[str, Rule] | None = None,
) -> str:
    """Return ``report`` as SARIF JSON text (see :func:`sarif_log`)."""
    return render_json(sarif_log(report, root=root, anchors=anchors, rules=rules))


def sarif_log(
    report: CheckReport,
    *,
    root: Path,
    anchors: Mapping[str, str] | None = None,
    rules: Mapping[str, Rule] | None = None,
) -> dict[str, Any]:
    """Return ``report`` as a SARIF 2.1.0 log (JSON-ready data).

    ``root`` is the project root the paths are relative to. ``anchors`` gives the place
    (``path:line``) of a finding that has none, by its module or else its source; ``""`` is the
    place of any other. ``rules`` describes rules beyond :data:`RULES` (the import contracts).
    """
    places = dict(anchors or {})
    described = {**RULES, **(rules or {})}
    used = sorted({rule_of(finding) for finding in report.findings})
    index = {rule: number for number, rule in enumerate(used)}
    occurrences: dict[str, int] = {}
    results = []
    for finding in report.findings:
        path, line = _place(finding, places, root)
        seed = f"{finding.identity}\n{path}"
        artifact = (
            {"uri": Path(path).as_uri()}  # outside the root: SARIF wants no uriBaseId with it
            if Path(path).is_absolute()
            else {"uri": quote(path), "uriBaseId": _ROOT}
        )
        occurrences[seed] = occurrences.get(seed, 0) + 1
        digest = hashlib.sha256(seed.encode()).hexdigest()[:32]
        result: dict[str, Any] = {
            "ruleId": rule_of(finding),
            "ruleIndex": index[rule_of(finding)],
            "level": "note" if report.baselined(finding) else "error",
            "message": {"text": describe(finding)},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": artifact,
                        "region": {"startLine": line},
                    }
                }
            ],
            "partialFingerprints": {_FINGERPRINT: f"{digest}:{occurrences[seed]}"},
            "properties": {"identity": finding.identity, "source": finding.source},
        }
        if report.baseline:
            result["baselineState"] = "unchanged" if report.baselined(finding) else "new"
        results.append(result)
    notifications = [_notification(note, "note") for note in report.notes] + [
        _notification(f"Fixed, but still in the baseline: {identity}", "warning")
        for identity in report.fixed
    ]
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "aura",
                        "version": aura.__version__,
                        "informationUri": INFORMATION_URI,
                        "rules": [_rule(described.get(rule), rule) for rule in used],
                    }
                },
                "originalUriBaseIds": {_ROOT: {"uri": root.resolve().as_uri() + "/"}},
                "invocations": [invocation],
                "results": results,
            }
        ],
    }


def _rule(rule: Rule | None, rule_id: str) -> dict[str, Any]:
    if rule is None:
        rule = Rule(rule_id, rule_id.replace("-", " ").capitalize())
    help_text = rule.help or rule.title
    return {
        "id": rule_id,
        "name": "".join(part.capitalize() for part in rule_id.replace("/", "-").split("-")),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": help_text},
        "help": {"text": help_text},
        "defaultConfiguration": {"level": "error"},
    }


def _place(finding: Finding, anchors: Mapping[str, str], root: Path) -> tuple[str, int]:
    """The file (relative to ``root``, or absolute when outside it) and line of ``finding``, or
    of its anchor."""
    place = (
        finding.location
        or (anchors.get(finding.module, "") if finding.module else "")
        or (anchors.get(finding.source, "") if finding.source else "")
        or anchors.get("", "pyproject.toml")
    )
    path, _, line = place.rpartition(":")
    if not line.isdigit():
        path, line = place, "1"
    shown = Path(path)
    if not shown.is_absolute() and shown.parts[:1] == ("..",):
        shown = (root / shown).resolve()  # above the root: named absolutely
    if shown.is_absolute():
        with contextlib.suppress(ValueError):  # outside the root: left absolute
            shown = shown.relative_to(root.resolve())
    return shown.as_posix(), max(int(line), 1)


def _notification(text: str, level: str) -> dict[str, Any]:
    return {"level": level, "message": {"text": text}}
