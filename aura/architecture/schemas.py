"""The event catalog as JSON Schema, committed, and the breaking changes ``aura check`` finds.

``aura docs`` writes ``events.schema.json`` beside the architecture docs: for every event type
with a contract, each registered version's JSON Schema (pydantic's) and contract class. Versions
the code no longer registers stay in the file: stored events of them still exist, and the file
is the record of what was published. ``aura check`` compares the contracts with the committed
file and reports, per event type:

- ``event-breaking-change``: a committed version whose contract changed in a way its stored
  events or its consumers cannot take: a field removed or renamed, a field's type changed other
  than widened (``int`` to ``int | None``, ``int`` to ``float``), a new required field (one
  without a default), a field that became required. Additive changes (a new field with a
  default) pass. The fix: a new version, with an upcaster from this one.
- ``event-missing-upcaster``: a version newer than the committed ones that no chain of
  upcasters reaches from the newest committed version.
- ``event-version-removed``: the committed catalog knows a version newer than any the code
  registers (stored events of it could not be read).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from aura.events import EventCatalog, EventContract
from aura.findings import Finding

__all__ = [
    "SCHEMA_FILE",
    "breaking_changes",
    "catalog_schemas",
    "read_schemas",
    "render_schemas",
]

SCHEMA_FILE = "events.schema.json"
"""The committed catalog's file name, under the architecture docs' folder."""

SOURCE = "event catalog"
"""The source of the findings, in ``aura check``'s report."""

_IGNORED = frozenset({"title", "description", "default", "examples"})


def catalog_schemas(catalog: EventCatalog, event_types: Iterable[str]) -> dict[str, Any]:
    """Every registered version of each of ``event_types``: ``{type: {version: entry}}``, an
    entry being the contract class's path and its JSON Schema."""
    schemas: dict[str, Any] = {}
    for event_type in sorted(set(event_types)):
        versions = catalog.versions(event_type)
        if versions:
            schemas[event_type] = {str(c.version): _entry(c) for c in versions}
    return schemas


def _entry(contract: EventContract) -> dict[str, Any]:
    cls = contract.contract_class
    entry: dict[str, Any] = {
        "contract": f"{cls.__module__}.{cls.__qualname__}",
        "schema": contract.adapter.json_schema(mode="validation"),
    }
    if contract.upcasters:
        entry["upcasts_from"] = sorted(contract.upcasters)
    return entry


def read_schemas(path: Path) -> dict[str, Any] | None:
    """The committed catalog at ``path``, or ``None`` when there is none."""
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    events = document.get("events") if isinstance(document, dict) else None
    return events if isinstance(events, dict) else None


def render_schemas(current: Mapping[str, Any], committed: Mapping[str, Any] | None) -> str:
    """The file's text: ``current``, with the versions ``committed`` has and the code no
    longer registers kept (their stored events still exist)."""
    merged: dict[str, Any] = {}
    for event_type in sorted(set(current) | set(committed or {})):
        versions = dict((committed or {}).get(event_type, {}))
        versions.update(current.get(event_type, {}))
        merged[event_type] = {key: versions[key] for key in sorted(versions, key=int)}
    document = {
        "generated_by": "aura docs",
        "note": "Each event type's contract versions as JSON Schema; aura check compares the "
        "contracts with this file. Versions no longer registered are kept.",
        "events": merged,
    }
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def breaking_changes(
    committed: Mapping[str, Any],
    catalog: EventCatalog,
    event_types: Iterable[str],
    root: Path | None = None,
) -> list[Finding]:
    """What ``aura check`` reports of ``event_types``' contracts against ``committed``; each
    finding is placed at its contract class (relative to ``root`` when it is under it)."""
    findings: list[Finding] = []
    for event_type in sorted(set(event_types)):
        known = committed.get(event_type)
        versions = catalog.versions(event_type)
        if not isinstance(known, dict) or not versions:
            continue
        committed_versions = sorted(int(key) for key in known)
        for contract in versions:
            old = known.get(str(contract.version))
            if old is None:
                continue
            new = contract.adapter.json_schema(mode="validation")
            for change in _incompatible(old.get("schema", {}), new):
                found = _breaking(event_type, contract, change, versions[-1].version)
                findings.append(_at(found, contract, root))
        latest = versions[-1].version
        newest = committed_versions[-1]
        if latest > newest:
            steps = {step for c in versions for step in c.upcasters}
            missing = [step for step in range(newest, latest) if step not in steps]
            if missing:
                found = _missing(event_type, newest, latest, missing[0])
                findings.append(_at(found, versions[-1], root))
        elif newest > latest:
            findings.append(
                Finding(
                    source=SOURCE,
                    rule="event-version-removed",
                    subject=f"{event_type} v{newest}",
                    message=f"Event {event_type!r} is at version {newest} in the committed "
                    f"catalog, but the code registers version {latest} at most: stored "
                    f"events of version {newest} could not be read.",
                    fix=f"Register version {newest} again, or, if it was never released, "
                    "regenerate the catalog with `aura docs`.",
                )
            )
    return findings


def _at(finding: Finding, contract: EventContract, root: Path | None) -> Finding:
    """``finding`` placed at ``contract``'s class: ``path:line``."""
    try:
        source = inspect.getsourcefile(contract.contract_class)
        _, line = inspect.getsourcelines(contract.contract_class)
    except (OSError, TypeError):
        return finding
    if source is None:
        return finding
    path = Path(source)
    if root is not None and path.is_relative_to(root.resolve()):
        path = path.relative_to(root.resolve())
    return dataclasses.replace(finding, location=f"{path.as_posix()}:{line}")


def _breaking(event_type: str, contract: EventContract, change: str, latest: int) -> Finding:
    version = contract.version
    return Finding(
        source=SOURCE,
        rule="event-breaking-change",
        subject=f"{event_type} v{version} {change}",
        message=f"Event {event_type!r} version {version} ({_path(contract)}) changed in a way "
        f"its stored events and consumers cannot take: {change}.",
        fix=f"Keep version {version} as committed and declare version {latest + 1} with an "
        f"upcaster from {version}: @event_contract({event_type!r}, version={latest + 1}, "
        f"upcasters={{{latest}: upcast}}).",
    )


def _missing(event_type: str, newest: int, latest: int, step: int) -> Finding:
    return Finding(
        source=SOURCE,
        rule="event-missing-upcaster",
        subject=f"{event_type} v{step}",
        message=f"Event {event_type!r} is at version {latest}, and the committed catalog at "
        f"version {newest}: no upcaster reads version {step} as version {step + 1}, so stored "
        f"events of version {newest} could not be read.",
        fix=f"Declare upcasters={{{step}: upcast}} on version {step + 1} of {event_type!r}.",
    )


def _path(contract: EventContract) -> str:
    cls = contract.contract_class
    return f"{cls.__module__}.{cls.__qualname__}"


# --- comparing two schemas -----------------------------------------------------------------------


def _incompatible(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The changes from ``old`` to ``new`` that data valid for ``old`` would not survive."""
    old_fields = old.get("properties", {}) or {}
    new_fields = new.get("properties", {}) or {}
    old_required = set(old.get("required", []) or [])
    new_required = set(new.get("required", []) or [])
    changes = []
    for name in old_fields:
        if name not in new_fields:
            changes.append(f"field {name!r} was removed (or renamed)")
    for name, schema in new_fields.items():
        if name not in old_fields:
            if name in new_required:
                changes.append(f"field {name!r} is new and required (it has no default)")
            continue
        if name in new_required and name not in old_required:
            changes.append(f"field {name!r} became required")
        before = _resolved(old_fields[name], old)
        after = _resolved(schema, new)
        if not _widens(before, after):
            changes.append(
                f"field {name!r} changed type from {_type_text(before)} to {_type_text(after)}"
            )
    return changes


def _resolved(schema: Any, root: Mapping[str, Any]) -> Any:
    """``schema`` with ``$ref``s to the root's ``$defs`` replaced and annotations dropped."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = (root.get("$defs") or {}).get(ref.removeprefix("#/$defs/"), {})
            return _resolved(target, root)
        return {k: _resolved(v, root) for k, v in schema.items() if k not in _IGNORED}
    if isinstance(schema, list):
        return [_resolved(item, root) for item in schema]
    return schema


def _alternatives(schema: Any) -> list[Any]:
    if isinstance(schema, dict) and isinstance(schema.get("anyOf"), list) and len(schema) == 1:
        return [alternative for item in schema["anyOf"] for alternative in _alternatives(item)]
    return [schema]


def _widens(before: Any, after: Any) -> bool:
    """Whether every value ``before`` accepts, ``after`` accepts too (as far as can be told)."""
    if before == after:
        return True
    targets = _alternatives(after)
    return all(any(_accepts(target, one) for target in targets) for one in _alternatives(before))


def _accepts(target: Any, one: Any) -> bool:
    if target == one or target == {}:
        return True
    return (
        isinstance(target, dict)
        and isinstance(one, dict)
        and target == {"type": "number"}
        and one == {"type": "integer"}
    )


def _type_text(schema: Any) -> str:
    alternatives = _alternatives(schema)
    if len(alternatives) > 1:
        return " | ".join(_type_text(item) for item in alternatives)
    if not isinstance(schema, dict):
        return json.dumps(schema)
    kind = schema.get("type")
    if kind == "array":
        return f"array of {_type_text(schema.get('items', {}))}"
    if isinstance(kind, str):
        extra = schema.get("format")
        return f"{kind} ({extra})" if extra else kind
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(value) for value in schema["enum"])
    return json.dumps(schema, sort_keys=True)
