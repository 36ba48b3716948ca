"""``aura check --format sarif``: a SARIF 2.1.0 log that GitHub code scanning accepts."""

from __future__ import annotations

import importlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

import aura
from aura.architecture.report import CheckReport
from aura.architecture.sarif import sarif_log
from aura.cli import main
from aura.findings import Finding

# The parts of the SARIF 2.1.0 schema (https://json.schemastore.org/sarif-2.1.0.json, draft 7)
# that Aura's log uses, with their required properties and enumerations, plus what GitHub code
# scanning requires beyond it: every result has a location with a URI (one without makes it
# refuse the whole log).
_MESSAGE = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}
SARIF_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "$schema": {"type": "string", "format": "uri"},
        "version": {"const": "2.1.0"},
        "runs": {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/run"}},
    },
    "definitions": {
        "run": {
            "type": "object",
            "required": ["tool"],
            "properties": {
                "tool": {
                    "type": "object",
                    "required": ["driver"],
                    "properties": {"driver": {"$ref": "#/definitions/driver"}},
                },
                "results": {"type": "array", "items": {"$ref": "#/definitions/result"}},
                "invocations": {"type": "array", "items": {"$ref": "#/definitions/invocation"}},
                "originalUriBaseIds": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {"uri": {"type": "string", "format": "uri-reference"}},
                    },
                },
            },
        },
        "driver": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "informationUri": {"type": "string", "format": "uri"},
                "rules": {
                    "type": "array",
                    "uniqueItems": True,
                    "items": {
                        "type": "object",
                        "required": ["id", "shortDescription", "help"],
                        "properties": {
                            "id": {"type": "string"},
                            "name": {"type": "string"},
                            "shortDescription": _MESSAGE,
                            "fullDescription": _MESSAGE,
                            "help": _MESSAGE,
                            "defaultConfiguration": {
                                "type": "object",
                                "properties": {"level": {"$ref": "#/definitions/level"}},
                            },
                        },
                    },
                },
            },
        },
        "level": {"enum": ["none", "note", "warning", "error"]},
        "result": {
            "type": "object",
            "required": ["message", "ruleId", "locations"],
            "properties": {
                "ruleId": {"type": "string"},
                "ruleIndex": {"type": "integer", "minimum": 0},
                "level": {"$ref": "#/definitions/level"},
                "message": _MESSAGE,
                "locations": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["physicalLocation"],
                        "properties": {
                            "physicalLocation": {
                                "type": "object",
                                "required": ["artifactLocation", "region"],
                                "properties": {
                                    "artifactLocation": {
                                        "type": "object",
                                        "required": ["uri"],
                                        "properties": {
                                            "uri": {"type": "string", "format": "uri-reference"},
                                            "uriBaseId": {"type": "string"},
                                        },
                                    },
                                    "region": {
                                        "type": "object",
                                        "required": ["startLine"],
                                        "properties": {
                                            "startLine": {"type": "integer", "minimum": 1}
                                        },
                                    },
                                },
                            }
                        },
                    },
                },
                "partialFingerprints": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                },
                "baselineState": {"enum": ["new", "unchanged", "updated", "absent"]},
            },
        },
        "invocation": {
            "type": "object",
            "required": ["executionSuccessful"],
            "properties": {
                "executionSuccessful": {"type": "boolean"},
                "toolExecutionNotifications": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["message"],
                        "properties": {
                            "message": _MESSAGE,
                            "level": {"$ref": "#/definitions/level"},
                        },
                    },
                },
            },
        },
    },
}


def validate_schema(log: dict[str, Any]) -> bool:
    """Validate ``log`` against the schema above with the JSON Schema validator installed
    (schemathesis brings jsonschema_rs); False when there is none."""
    try:
        jsonschema_rs = importlib.import_module("jsonschema_rs")
    except ImportError:
        try:
            jsonschema = importlib.import_module("jsonschema")
        except ImportError:
            return False
        jsonschema.validate(log, SARIF_SCHEMA)
        return True
    jsonschema_rs.validate(SARIF_SCHEMA, log)
    return True


def assert_valid_sarif(log: dict[str, Any]) -> None:
    """Check ``log`` against the schema above, and the cross-references it cannot express."""
    validate_schema(log)
    assert log["version"] == "2.1.0"
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    (run,) = log["runs"]
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    fingerprints = []
    for result in run["results"]:
        assert rules[result["ruleIndex"]] == result["ruleId"]
        (location,) = result["locations"]
        artifact = location["physicalLocation"]["artifactLocation"]
        if "uriBaseId" in artifact:  # then the URI is relative to it (SARIF 2.1.0, 3.4.4)
            assert artifact["uriBaseId"] in run["originalUriBaseIds"]
            assert not artifact["uri"].startswith(("/", "file:", ".."))
        else:  # a file outside the project root: an absolute URI
            assert artifact["uri"].startswith("file:///")
        fingerprints.append(result["partialFingerprints"]["auraFindingIdentity/v1"])
    assert len(set(fingerprints)) == len(fingerprints)


def test_the_schema_refuses_a_result_without_a_location() -> None:
    validator = pytest.importorskip("jsonschema_rs")
    result = {"ruleId": "layer", "message": {"text": "no place"}}
    run = {"tool": {"driver": {"name": "aura"}}, "results": [result]}
    log = {"version": "2.1.0", "runs": [run]}
    with pytest.raises(validator.ValidationError, match="locations"):
        validator.validate(SARIF_SCHEMA, log)


PROJECT = {
    "pyproject.toml": """\
[tool.aura.boundaries]
layers = ["api", "domain"]

[tool.aura.boundaries.modules.users]
package = "shop.users"

[tool.aura.boundaries.modules.billing]
package = "shop.billing"
depends_on = ["users"]
""",
    "shop/__init__.py": "",
    "shop/users/__init__.py": "from shop.users.domain import User\n",
    "shop/users/domain.py": "class User:\n    name = ''\n",
    "shop/billing/__init__.py": "",
    "shop/billing/api.py": "from shop.users import User\n",
    "shop/billing/domain.py": "from shop.users.domain import User\n",  # internal to users
}


def sarif(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], *args: str
) -> tuple[int, dict[str, Any]]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    code = main(["check", "--format", "sarif", *args], out=out)
    return code, json.loads(out.getvalue())


def test_a_planted_violation_is_a_result_at_its_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, log = sarif(tmp_path, monkeypatch, PROJECT)
    assert code == 1
    assert_valid_sarif(log)
    (run,) = log["runs"]
    assert run["tool"]["driver"] == {
        "name": "aura",
        "version": aura.__version__,
        "informationUri": "https://pypi.org/project/aura-modulith/",
        "rules": [
            {
                "id": "internal-import",
                "name": "InternalImport",
                "shortDescription": {"text": "Imports of another module's internals"},
                "fullDescription": {
                    "text": "A module imports a module it depends on only through its published "
                    "interface (interface in [tool.aura.boundaries]; by default the module's "
                    "package itself). Import from the published API, or add the sub-package to "
                    "the other module's interface."
                },
                "help": {
                    "text": "A module imports a module it depends on only through its published "
                    "interface (interface in [tool.aura.boundaries]; by default the module's "
                    "package itself). Import from the published API, or add the sub-package to "
                    "the other module's interface."
                },
                "defaultConfiguration": {"level": "error"},
            }
        ],
    }
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": f"{tmp_path.resolve().as_uri()}/"}}
    (result,) = run["results"]
    fingerprint = result.pop("partialFingerprints")["auraFindingIdentity/v1"]
    assert result == {
        "ruleId": "internal-import",
        "ruleIndex": 0,
        "level": "error",
        "message": {
            "text": "billing uses shop.users.domain; shop.users.domain is internal to users, "
            "which publishes shop.users: import from there, or add 'domain' to interface of "
            "users (pyproject.toml [tool.aura.boundaries.modules.users])"
        },
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": "shop/billing/domain.py", "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": 1},
                }
            }
        ],
        "properties": {
            "identity": "module map: internal-import billing shop.users.domain",
            "source": "module map",
        },
    }
    assert len(fingerprint) == 34
    assert fingerprint.endswith(":1")
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert [note["level"] for note in notes] == ["note", "note"]


def test_a_clean_project_gives_an_empty_valid_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = {**PROJECT, "shop/billing/domain.py": "from shop.users import User\n"}
    code, log = sarif(tmp_path, monkeypatch, clean)
    assert code == 0
    assert_valid_sarif(log)
    assert (log["runs"][0]["results"], log["runs"][0]["tool"]["driver"]["rules"]) == ([], [])


def test_the_fingerprint_follows_a_violation_that_moves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def result(files: dict[str, str]) -> dict[str, Any]:
        (found,) = sarif(tmp_path, monkeypatch, files)[1]["runs"][0]["results"]
        return found  # type: ignore[no-any-return]

    before = result(PROJECT)
    domain = "shop/billing/domain.py"
    after = result({**PROJECT, domain: '"""Charges."""\n\n' + PROJECT[domain]})
    assert before["partialFingerprints"] == after["partialFingerprints"]
    region = [r["locations"][0]["physicalLocation"]["region"] for r in (before, after)]
    assert region == [{"startLine": 1}, {"startLine": 3}]


def test_a_finding_without_a_place_is_put_where_its_module_or_contract_is_declared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {
        **PROJECT,
        "shop/billing/domain.py": "from shop.users import User\n",
        "shop/users/domain.py": "from shop.billing import api\n",  # a cycle, undeclared
        ".importlinter": (
            "[importlinter]\nroot_packages =\n    shop\n\n"
            "[importlinter:contract:independent]\nname = shop modules are independent\n"
            "type = independence\nmodules =\n    shop.users\n    shop.billing\n"
        ),
    }
    code, log = sarif(tmp_path, monkeypatch, files)
    assert code == 1
    assert_valid_sarif(log)
    places = {}
    for result in log["runs"][0]["results"]:
        place = result["locations"][0]["physicalLocation"]
        places[result["ruleId"]] = (place["artifactLocation"]["uri"], place["region"]["startLine"])
    assert places == {
        "undeclared-dependency": ("shop/users/domain.py", 1),
        # billing sorts first in the cycle: at its table in pyproject.toml
        "dependency-cycle": ("pyproject.toml", 7),
        # an import chain of an import contract: at the contract's section
        "import-contract/independent": (".importlinter", 5),
    }
    rules = {rule["id"]: rule for rule in log["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["import-contract/independent"]["shortDescription"] == {
        "text": "shop modules are independent"
    }


def test_with_a_baseline_accepted_findings_are_notes_and_new_ones_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    accepted = Finding(
        source="module map", module="billing", rule="layer", subject="a", message="old", fix="x",
        location="shop/billing/domain.py:1",
    )  # fmt: skip
    new = Finding(source="module map", module="users", rule="layer", subject="b", message="new")
    report = CheckReport((accepted, new), {accepted.identity: 1, "module map: layer users gone": 1})
    log = sarif_log(report, root=tmp_path, anchors={"users": "pyproject.toml:4"})
    assert_valid_sarif(log)
    (run,) = log["runs"]
    states = [(r["message"]["text"], r["level"], r["baselineState"]) for r in run["results"]]
    assert states == [("old; x", "note", "unchanged"), ("new", "error", "new")]
    assert run["results"][1]["locations"][0]["physicalLocation"]["region"] == {"startLine": 4}
    assert run["invocations"] == [
        {
            "executionSuccessful": True,
            "toolExecutionNotifications": [
                {
                    "level": "warning",
                    "message": {
                        "text": "Fixed, but still in the baseline: module map: layer users gone"
                    },
                }
            ],
        }
    ]


def test_the_same_finding_twice_in_one_file_gets_two_fingerprints(tmp_path: Path) -> None:
    twice = [
        Finding(source="module map", module="billing", rule="layer", subject="a", message="m",
                location=f"shop/billing/domain.py:{line}")
        for line in (3, 9)
    ]  # fmt: skip
    results = sarif_log(CheckReport(tuple(twice)), root=tmp_path)["runs"][0]["results"]
    fingerprints = [r["partialFingerprints"]["auraFindingIdentity/v1"] for r in results]
    assert [f.rpartition(":")[2] for f in fingerprints] == ["1", "2"]
    assert fingerprints[0].partition(":")[0] == fingerprints[1].partition(":")[0]
    assert "baselineState" not in results[0]  # no baseline: nothing to compare with


def test_a_file_outside_the_project_root_has_an_absolute_uri_without_a_base(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared" / "lib"
    for name, text in {
        "__init__.py": "",
        "users/__init__.py": "",
        "users/domain.py": "class User: ...\n",
        "billing/__init__.py": "from lib.users.domain import User\n",  # internal to users
    }.items():
        (shared / name).parent.mkdir(parents=True, exist_ok=True)
        (shared / name).write_text(text)
    pyproject = """\
[tool.aura.boundaries]
source_roots = ["../shared"]

[tool.aura.boundaries.modules.users]
package = "lib.users"

[tool.aura.boundaries.modules.billing]
package = "lib.billing"
depends_on = ["users"]
"""
    code, log = sarif(tmp_path / "project", monkeypatch, {"pyproject.toml": pyproject})
    assert code == 1
    assert_valid_sarif(log)
    (result,) = log["runs"][0]["results"]
    assert result["locations"] == [
        {
            "physicalLocation": {
                "artifactLocation": {
                    "uri": (shared / "billing" / "__init__.py").resolve().as_uri()
                },
                "region": {"startLine": 1},
            }
        }
    ]
