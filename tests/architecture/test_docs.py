"""``aura docs``: architecture docs generated from the platform, and checked for staleness."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from aura.architecture.commands import add_docs_arguments, run_docs
from aura.architecture.docs import HEADER, build_docs
from aura.cli import main
from aura.platform import Platform

from .depot import BROKEN, CLEAN, write_project

SHIPPING_PAGE = f"""{HEADER}

# Module `shipping`

Ships parcels.

## Services

| Service | Container names | Contract | Methods |
| --- | --- | --- | --- |
| `Shipping` | `shipping` | — | `ship` |

## Events published

| Event | Subscribers |
| --- | --- |
| [`parcel.shipped`](../events.md#parcel-shipped) | shipping (`depot.modules.shipping.application.on_parcel_shipped`) |

## Events consumed

| Event | Handler | Publishers |
| --- | --- | --- |
| [`parcel.shipped`](../events.md#parcel-shipped) | `depot.modules.shipping.application.on_parcel_shipped` | `shipping` |

## Routes

| Method | Path | Endpoint | Who may call it |
| --- | --- | --- | --- |
| GET | `/api/shipping/parcels/{{parcel_id}}` | `depot.modules.shipping.get_parcel` | no rule: not served |

## Dependencies

- Depends on [stock](stock.md): looks up `Stock`

## Tables

- `shipping_parcels`
"""  # noqa: E501  # Markdown table rows are one line each

STOCK_SERVICES = """\
| Service | Container names | Contract | Methods |
| --- | --- | --- | --- |
| `Stock` | `stock` | `depot.contracts.StockContract` | `count(sku: str) -> int`<br/>\
`reserve(*skus: str, until: str \\| None = None, **notes: str) -> None` |"""

DIAGRAM = """\
```mermaid
flowchart LR
    shipping["shipping"]
    stock["stock"]
    shipping -->|"Stock"| stock
    shipping -.->|"parcel.shipped"| shipping
```"""

CATALOG_ENTRY = """\
<a id="parcel-shipped"></a>

## `parcel.shipped`

A parcel left the depot.

Version 1 · contract `depot.contracts.ParcelShipped`

| Field | Type | Default |
| --- | --- | --- |
| `parcel_id` | `int` | required |
| `sku` | `str` | required |
| `note` | `str \\| None` | `None` |
| `labels` | `list[str]` | `builtins.list()` |

Published by: `shipping`

Consumed by: shipping (`depot.modules.shipping.application.on_parcel_shipped`)
"""


@pytest.fixture
def docs(pytester: pytest.Pytester) -> dict[str, str]:
    write_project(pytester, CLEAN)
    with Platform(Platform.discover("depot.modules")) as platform:
        return build_docs(platform)


def run(*args: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="aura docs")
    add_docs_arguments(parser)
    out = io.StringIO()
    code = run_docs(parser.parse_args(["--modules", "depot.modules", *args]), out)
    return code, out.getvalue()


def test_one_page_per_module_an_index_and_an_event_catalog(docs: dict[str, str]) -> None:
    assert sorted(docs) == ["README.md", "events.md", "modules/shipping.md", "modules/stock.md"]


def test_a_module_canvas_shows_services_events_routes_dependencies_and_tables(
    docs: dict[str, str],
) -> None:
    assert docs["modules/shipping.md"] == SHIPPING_PAGE


def test_services_are_shown_with_their_contracts_methods(docs: dict[str, str]) -> None:
    assert STOCK_SERVICES in docs["modules/stock.md"]
    assert "- Used by [shipping](shipping.md)" in docs["modules/stock.md"]


def test_the_diagram_draws_services_solid_and_events_dotted(docs: dict[str, str]) -> None:
    assert DIAGRAM in docs["README.md"]


def test_the_event_catalog_gives_fields_version_publishers_and_subscribers(
    docs: dict[str, str],
) -> None:
    assert docs["events.md"].endswith(CATALOG_ENTRY)


def test_events_without_a_contract_are_listed_apart(pytester: pytest.Pytester) -> None:
    write_project(pytester, BROKEN)
    with Platform(Platform.discover("depot.modules")) as platform:
        catalog = build_docs(platform)["events.md"]
    assert catalog.endswith("## Without a contract\n\n- `parcel.lost`\n")


# --- writing and checking ------------------------------------------------------------------------


def test_check_fails_until_the_docs_are_written(pytester: pytest.Pytester) -> None:
    write_project(pytester, CLEAN)
    assert run("--check", "--out", "out") == (
        1,
        "aura docs: the architecture docs are stale; run `aura docs` to regenerate:\n"
        "  - out/README.md is missing\n"
        "  - out/events.md is missing\n"
        "  - out/modules/shipping.md is missing\n"
        "  - out/modules/stock.md is missing\n",
    )
    assert run("--out", "out") == (0, "aura docs: wrote 4 files to out (4 changed).\n")
    assert run("--check", "--out", "out") == (0, "aura docs: 4 files in out are up to date.\n")


def test_check_detects_edited_and_leftover_pages(pytester: pytest.Pytester) -> None:
    write_project(pytester, CLEAN)
    run("--out", "out")
    out = pytester.path / "out"
    (out / "events.md").write_text("edited by hand\n")
    (out / "modules" / "old.md").write_text(f"{HEADER}\n\n# Module `old`\n")
    (out / "notes.md").write_text("# Notes kept by people\n")
    assert run("--check", "--out", "out") == (
        1,
        "aura docs: the architecture docs are stale; run `aura docs` to regenerate:\n"
        "  - out/events.md is out of date\n"
        "  - out/modules/old.md is no longer generated\n",
    )
    assert run("--out", "out") == (0, "aura docs: wrote 4 files to out (2 changed).\n")
    assert not (out / "modules" / "old.md").exists()
    assert (out / "notes.md").read_text() == "# Notes kept by people\n"
    assert run("--check", "--out", "out")[0] == 0


def test_a_missing_modules_package_is_a_usage_error(pytester: pytest.Pytester) -> None:
    out = io.StringIO()
    code = main(["docs", "--modules", "nowhere", "--out", "out"], out=out)
    assert (code, out.getvalue()) == (
        2,
        "aura docs: error: The modules package 'nowhere' (from --modules) cannot be imported: "
        f"No module named 'nowhere'. Run from the project ({pytester.path} and its src/ folder "
        "are put on sys.path) or install it (pip install -e .), or correct the package name.\n",
    )
    assert not Path(pytester.path / "out").exists()
