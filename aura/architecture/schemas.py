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
from aura.exceptions import ConfigurationError
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
    """The committed catalog at ``path``, or ``None`` when there is none; one that cannot be
    read is a :class:`~aura.exceptions.ConfigurationError` (never a quiet pass)."""
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigurationError(
            f"{path} is not valid JSON ({exc}): the committed event catalog cannot be compared "
            "with the contracts. Restore it from version control (a merge conflict?), then "
            "run `aura docs`."
        ) from None
    events = document.get("events") if isinstance(document, dict) else None
    if not isinstance(events, dict):
        raise ConfigurationError(
            f"{path} has no 'events' table: it is not the event catalog `aura docs` writes. "
            "Restore it from version control, or delete it and run `aura docs`."
        )
    return events


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
        # Every committed version has stored events: a chain of upcasters must lead from the
        # oldest of them to the latest.
        steps = {step for c in versions for step in c.upcasters}
        oldest = committed_versions[0]
        missing = [step for step in range(oldest, latest) if step not in steps]
        if missing:
            found = _missing(event_type, oldest, latest, missing[0])
            findings.append(_at(found, versions[-1], root))
        if newest > latest:
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
        f"upcaster from {latest}: @event_contract({event_type!r}, version={latest + 1}, "
        f"upcasters={{{latest}: upcast}}).",
    )


def _missing(event_type: str, newest: int, latest: int, step: int) -> Finding:
    return Finding(
        source=SOURCE,
        rule="event-missing-upcaster",
        subject=f"{event_type} v{step}",
        message=f"Event {event_type!r} is at version {latest}, and the committed catalog has "
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
    return _object_changes(_resolved(old, old), _resolved(new, new), "")


def _object_changes(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str) -> list[str]:
    old_fields = old.get("properties", {}) or {}
    new_fields = new.get("properties", {}) or {}
    old_required = set(old.get("required", []) or [])
    new_required = set(new.get("required", []) or [])
    changes = []
    for name in old_fields:
        if name not in new_fields:
            changes.append(f"field {prefix + name!r} was removed (or renamed)")
    for name, after in new_fields.items():
        field = prefix + name
        if name not in old_fields:
            if name in new_required:
                changes.append(f"field {field!r} is new and required (it has no default)")
            continue
        if name in new_required and name not in old_required:
            changes.append(f"field {field!r} became required")
        changes.extend(_value_changes(old_fields[name], after, field))
    if (
        old.get("additionalProperties", True) is not False
        and new.get("additionalProperties", True) is False
        and (old.get("properties") is not None)
    ):
        where = f"field {prefix[:-1]!r}" if prefix else "the data"
        changes.append(f"{where} no longer accepts fields outside the contract")
    return changes


def _value_changes(before: Any, after: Any, field: str) -> list[str]:
    """The changes of one field's value schema: into objects and arrays, else its type."""
    if _is_object(before) and _is_object(after):
        return _object_changes(before, after, field + ".")
    if _is_array(before) and _is_array(after):
        return _value_changes(before.get("items", {}), after.get("items", {}), field + "[]")
    if _widens(before, after):
        return []
    return [f"field {field!r} changed type from {_type_text(before)} to {_type_text(after)}"]


def _is_object(schema: Any) -> bool:
    return isinstance(schema, dict) and "properties" in schema


def _is_array(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "array"


def _resolved(schema: Any, root: Mapping[str, Any], seen: frozenset[str] = frozenset()) -> Any:
    """``schema`` with ``$ref``s to the root's ``$defs`` replaced (a recursive one left as a
    ``$ref``) and annotations (title, description, default, examples) dropped; the names of
    ``properties`` are field names, kept whatever they are."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in seen:
                return {"$ref": ref}
            target = (root.get("$defs") or {}).get(name, {})
            return _resolved(target, root, seen | {name})
        resolved: dict[str, Any] = {}
        for key, value in schema.items():
            if key in _IGNORED:
                continue
            if key == "properties" and isinstance(value, dict):
                resolved[key] = {field: _resolved(v, root, seen) for field, v in value.items()}
            else:
                resolved[key] = _resolved(value, root, seen)
        return resolved
    if isinstance(schema, list):
        return [_resolved(item, root, seen) for item in schema]
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
    """Whether ``target`` accepts every value ``one`` does: the same schema, or ``one`` with
    constraints dropped (fewer keywords constrain less), more enum values, integer -> number."""
    if target == one or target == {}:
        return True
    if not (isinstance(target, dict) and isinstance(one, dict)):
        return False
    if target == {"type": "number"} and one.get("type") == "integer":
        return True
    if "enum" in target and "enum" in one:
        same = {k: v for k, v in target.items() if k != "enum"}
        return same == {k: v for k, v in one.items() if k != "enum"} and all(
            value in target["enum"] for value in one["enum"]
        )
    if "const" in one and "enum" in target:
        return one["const"] in target["enum"]
    return all(key in one and one[key] == value for key, value in target.items())


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
