"""``aura docs``: architecture docs from the module map, with the platform's details when it loads.

Two projects: ``shop``, declared only in ``[tool.aura.boundaries]`` and written without Aura (it
imports a package that is not installed, so importing it would fail), and ``depot``, an Aura
project whose platform adds contracts, handlers, routes and tables.
"""

from __future__ import annotations

import argparse
import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aura.architecture.boundaries import check_boundaries
from aura.architecture.commands import add_docs_arguments, run_docs
from aura.architecture.docs import HEADER, build_docs, mermaid_text, node_ids
from aura.architecture.modulemap import load_module_map
from aura.cli import main
from aura.config import load_config
from aura.platform import Platform

from .depot import BROKEN, CLEAN, write_project

REPO = Path(__file__).resolve().parents[2]

SHOP = {
    "pyproject.toml": """
[tool.aura.boundaries]
source_roots = ["src"]
layers = ["api", "domain"]

[tool.aura.boundaries.modules.orders]
package = "shop.orders"
depends_on = ["billing"]
interface = [".", "api"]
publishes = ["order.placed"]

[tool.aura.boundaries.modules.billing]
package = "shop.billing"
interface = ["api"]
publishes = ["invoice.paid"]

[tool.aura.boundaries.modules.users]
package = "shop.users"
""",
    "src/shop/__init__.py": "",
    "src/shop/orders/__init__.py": '''
"""Takes orders <and> keeps *them*.

Not the first paragraph.
"""
import sqlalchemy_is_not_installed  # the docs never import the project
''',
    "src/shop/orders/api.py": """
from shop.billing.api import charge
from shop.billing.domain import Invoice
from shop.users import lookup
""",
    "src/shop/orders/domain.py": """
def place(bus):
    bus.publish("order.placed", {})
""",
    "src/shop/billing/__init__.py": "",
    "src/shop/billing/api.py": "def charge(): ...\n",
    "src/shop/billing/domain.py": "class Invoice: ...\n",
    "src/shop/billing/handlers.py": """
def setup(bus):
    bus.subscribe("order.placed", print)
""",
    "src/shop/users/__init__.py": '''
"""Who is who."""


def lookup(): ...


def setup(bus):
    bus.subscribe("invoice.*", print)
''',
}

SHOP_INDEX = f"""{HEADER}

# Architecture

How the modules reach each other. A solid arrow is a declared dependency (in `depends_on`), \
labelled with what the source uses of the other module: the services it looks up, the names it \
imports, its string couplings. A dotted arrow is an event flow, from the publisher to the \
subscriber, labelled with the event types. A thick red arrow is a use the boundary checks found \
that breaks the map: a module used but not declared, or a module's internals imported instead of \
its published API (`aura check` reports each one). The [event catalog](events.md) lists every \
event.

```mermaid
flowchart LR
    billing["billing"]
    orders["orders"]
    users["users"]
    orders -->|"shop.billing.api<br/>shop.billing.domain (internal)"| billing
    orders ==>|"undeclared: shop.users"| users
    billing -.->|"invoice.*"| users
    orders -.->|"order.placed"| billing
    linkStyle 0,1 stroke:#d62728,stroke-width:3px,color:#d62728
```

## Modules

| Module | Purpose | Package | Files | Depends on | Published API | Publishes |
| --- | --- | --- | --- | --- | --- | --- |
| [billing](modules/billing.md) | — | `shop.billing` | 4 | — | `shop.billing.api` | `invoice.paid` |
| [orders](modules/orders.md) | Takes orders \\<and\\> keeps \\*them\\*. | `shop.orders` | 3 \
| `billing` | `shop.orders`, `shop.orders.api` | `order.placed` |
| [users](modules/users.md) | Who is who. | `shop.users` | 1 | — | `shop.users` | — |
"""

ORDERS_PAGE = f"""{HEADER}

# Module `orders`

Takes orders \\<and\\> keeps \\*them\\*.

Package `shop.orders`, 3 files; declared in `pyproject.toml [tool.aura.boundaries.modules.orders]`.

## Published API

What other modules may import of it:

- `shop.orders`: the package itself, not its sub-packages
- `shop.orders.api` and everything below it

## Dependencies

| Module | Declared | Uses | In |
| --- | --- | --- | --- |
| [billing](billing.md) | yes | import `shop.billing.api` | `src/shop/orders/api.py` |
| [billing](billing.md) | yes | import `shop.billing.domain` (internal: not its published API) \
| `src/shop/orders/api.py` |
| [users](users.md) | **no** | import `shop.users` | `src/shop/orders/api.py` |

Used by no other module.

## Events published

| Event | Subscribers |
| --- | --- |
| [`order.placed`](../events.md#order-placed) | billing (`src/shop/billing/handlers.py`) |

## Events consumed

None.

## Layers

From the top: a layer may import the layers below it; `a | b` are independent siblings, \
`a : b` siblings that may import each other.

1. `api`
2. `domain`

## Services

None.

## Boundary problems

What `aura check` reports for this module:

- [internal-import] `src/shop/orders/api.py`: orders uses shop.billing.domain. Fix: \
shop.billing.domain is internal to billing, which publishes shop.billing.api: import from there, \
or add 'domain' to interface of billing (pyproject.toml \\[tool.aura.boundaries.modules.billing\\])
- [undeclared-dependency] `src/shop/orders/api.py`: orders uses shop.users. Fix: orders does \
not declare 'users' in depends\\_on: add it \
(pyproject.toml \\[tool.aura.boundaries.modules.orders\\]), or stop importing users
"""

SHOP_CATALOG = f"""{HEADER}

# Event catalog

Every event the modules publish or subscribe to, as the module map and the source say: who \
publishes it and who reacts to it. With the project's Aura modules loaded (`modules` in \
`[tool.aura]`), each event's contract is shown too.

<a id="invoice-any"></a>

## `invoice.*`

Published by: `billing`

Consumed by: users (`src/shop/users/__init__.py`)

<a id="invoice-paid"></a>

## `invoice.paid`

Published by: `billing`

Consumed by: users (`src/shop/users/__init__.py`)

<a id="order-placed"></a>

## `order.placed`

Published by: `orders`

Consumed by: billing (`src/shop/billing/handlers.py`)
"""

SHIPPING_PAGE = f"""{HEADER}

# Module `shipping`

Ships parcels.

Package `depot.modules.shipping`, 2 files; declared in `depot/modules/shipping/__init__.py`.

## Published API

What other modules may import of it:

- `depot.modules.shipping`: the package itself, not its sub-packages

## Dependencies

| Module | Declared | Uses | In |
| --- | --- | --- | --- |
| [stock](stock.md) | yes | lookup `Stock` | `depot/modules/shipping/application.py` |

Used by no other module.

## Events published

| Event | Subscribers |
| --- | --- |
| [`parcel.shipped`](../events.md#parcel-shipped) | shipping (`depot.modules.shipping.application.on_parcel_shipped`) |

## Events consumed

| Event | Handler | Publishers |
| --- | --- | --- |
| [`parcel.shipped`](../events.md#parcel-shipped) | `depot.modules.shipping.application.on_parcel_shipped` | `shipping` |

## Layers

None declared.

## Services

| Service | Container names | Contract | Methods |
| --- | --- | --- | --- |
| `Shipping` | `shipping` | — | `ship` |

## Routes

| Method | Path | Endpoint | Who may call it |
| --- | --- | --- | --- |
| GET | `/api/shipping/parcels/{{parcel_id}}` | `depot.modules.shipping.get_parcel` | no rule: not served |

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


def map_docs(root: Path, declarations: str | None = None) -> dict[str, str]:
    """The docs of the project at ``root`` from its module map alone."""
    module_map = load_module_map(load_config(root), declarations=declarations)
    return build_docs(module_map, check_boundaries(module_map))


def platform_docs(root: Path) -> dict[str, str]:
    """The docs of the depot project at ``root``, with its platform."""
    module_map = load_module_map(load_config(root), declarations="depot.modules")
    with Platform(Platform.discover("depot.modules")) as platform:
        return build_docs(module_map, check_boundaries(module_map), platform)


@pytest.fixture
def shop(pytester: pytest.Pytester) -> dict[str, str]:
    write_project(pytester, SHOP)
    return map_docs(pytester.path)


@pytest.fixture
def docs(pytester: pytest.Pytester) -> dict[str, str]:
    write_project(pytester, CLEAN)
    return platform_docs(pytester.path)


def run(*args: str, modules: str | None = "depot.modules") -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="aura docs")
    add_docs_arguments(parser)
    out = io.StringIO()
    given = ["--modules", modules] if modules is not None else []
    code = run_docs(parser.parse_args([*given, *args]), out)
    return code, out.getvalue()


# --- any codebase: the module map alone ----------------------------------------------------------


def test_a_project_declared_in_pyproject_gets_one_page_per_module_an_index_and_a_catalog(
    shop: dict[str, str],
) -> None:
    assert sorted(shop) == [
        "README.md",
        "events.md",
        "modules/billing.md",
        "modules/orders.md",
        "modules/users.md",
    ]


def test_the_index_draws_declared_uses_undeclared_ones_and_event_flows(
    shop: dict[str, str],
) -> None:
    assert shop["README.md"] == SHOP_INDEX


def test_a_module_page_shows_its_api_its_uses_with_their_files_its_events_and_its_problems(
    shop: dict[str, str],
) -> None:
    assert shop["modules/orders.md"] == ORDERS_PAGE


def test_a_module_page_shows_who_uses_it_and_what_it_subscribes_to(shop: dict[str, str]) -> None:
    users = shop["modules/users.md"]
    assert "Used by: [orders](orders.md) (undeclared).\n" in users
    assert (
        "| Event | Subscribed in | Publishers |\n| --- | --- | --- |\n"
        "| [`invoice.*`](../events.md#invoice-any) | `src/shop/users/__init__.py` | `billing` |\n"
    ) in users
    billing = shop["modules/billing.md"]
    assert "No description: give the package a docstring, or Module(..., description=...)." in (
        billing
    )
    assert "It declares no dependency and uses no other module.\n\nUsed by: [orders]" in billing
    assert "- `shop.billing.api` and everything below it\n" in billing
    assert "## Routes" not in billing  # only a platform knows them


def test_the_catalog_of_a_project_without_aura_names_publishers_and_subscribers(
    shop: dict[str, str],
) -> None:
    assert shop["events.md"] == SHOP_CATALOG


def test_aura_docs_works_on_a_project_with_only_a_module_map_and_imports_nothing(
    pytester: pytest.Pytester,
) -> None:
    write_project(pytester, SHOP)
    assert run("--out", "out", modules=None) == (
        0,
        "aura docs: wrote 5 files to out (5 changed).\n",
    )
    assert "shop" not in sys.modules
    assert run("--check", "--out", "out", modules=None) == (
        0,
        "aura docs: 5 files in out are up to date.\n",
    )
    (pytester.path / "src/shop/users/api.py").write_text("from shop.orders.domain import place\n")
    code, text = run("--check", "--out", "out", modules=None)
    assert (code, text.splitlines()[1:]) == (
        1,
        [
            "  - out/README.md is out of date",
            "  - out/modules/orders.md is out of date",
            "  - out/modules/users.md is out of date",
        ],
    )


def test_a_project_with_neither_modules_nor_a_module_map_is_a_usage_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyprojecttoml("[tool.aura]\n")
    out = io.StringIO()
    assert main(["docs", "--out", "out"], out=out) == 2
    assert out.getvalue().startswith(
        "aura docs: error: No modules configured: Aura found no `modules` in [tool.aura] in "
    )
    assert not (pytester.path / "out").exists()


def test_a_module_map_that_declares_no_module_is_a_usage_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyprojecttoml('[tool.aura.boundaries]\nsource_roots = ["."]\n')
    code, text = run("--out", "out", modules=None)
    assert (code, text.splitlines()[0]) == (
        2,
        f"aura docs: error: No modules to check: [tool.aura.boundaries] in "
        f"{pytester.path / 'pyproject.toml'} declares none. Declare each module's package and "
        "dependencies:",
    )


# --- an Aura project: the platform adds what it knows --------------------------------------------


def test_one_page_per_module_an_index_and_an_event_catalog(docs: dict[str, str]) -> None:
    assert sorted(docs) == [
        "README.md",
        "events.md",
        "events.schema.json",  # the contracts' JSON Schemas, which aura check holds them to
        "modules/shipping.md",
        "modules/stock.md",
    ]


def test_a_module_canvas_shows_services_events_routes_dependencies_and_tables(
    docs: dict[str, str],
) -> None:
    assert docs["modules/shipping.md"] == SHIPPING_PAGE


def test_services_are_shown_with_their_contracts_methods(docs: dict[str, str]) -> None:
    assert STOCK_SERVICES in docs["modules/stock.md"]
    assert "Used by: [shipping](shipping.md).\n" in docs["modules/stock.md"]


def test_the_diagram_draws_services_solid_and_events_dotted(docs: dict[str, str]) -> None:
    assert DIAGRAM in docs["README.md"]


def test_the_event_catalog_gives_fields_version_publishers_and_subscribers(
    docs: dict[str, str],
) -> None:
    assert docs["events.md"].endswith(CATALOG_ENTRY)


def test_events_without_a_contract_are_listed_apart(pytester: pytest.Pytester) -> None:
    write_project(pytester, BROKEN)
    catalog = platform_docs(pytester.path)["events.md"]
    assert catalog.endswith("## Without a contract\n\n- `parcel.lost`\n")


def test_undeclared_lookups_and_internal_imports_of_a_platform_are_drawn_red(
    pytester: pytest.Pytester,
) -> None:
    write_project(pytester, BROKEN)
    readme = platform_docs(pytester.path)["README.md"]
    assert '    billing -->|"declared, no use found"| stock\n' in readme
    assert '    billing ==>|"undeclared: Shipping"| shipping\n' in readme
    assert '    shipping -->|"depot.modules.stock.domain (internal)<br/>Stock"| stock\n' in readme
    assert "    linkStyle 1,2 stroke:#d62728,stroke-width:3px,color:#d62728\n" in readme


def test_static_docs_of_an_aura_project_import_nothing_and_read_descriptions_from_source(
    pytester: pytest.Pytester,
) -> None:
    write_project(pytester, CLEAN)
    assert run("--static", "--out", "out") == (0, "aura docs: wrote 4 files to out (4 changed).\n")
    assert "depot.modules" not in sys.modules
    shipping = (pytester.path / "out/modules/shipping.md").read_text()
    assert shipping.startswith(f"{HEADER}\n\n# Module `shipping`\n\nShips parcels.\n")
    assert "| `Shipping` | `shipping` |\n" in shipping
    assert "## Routes" not in shipping
    # with the platform the pages say more, so the static ones are stale
    assert run("--check", "--out", "out")[0] == 1


# --- writing and checking ------------------------------------------------------------------------


def test_check_fails_until_the_docs_are_written(pytester: pytest.Pytester) -> None:
    write_project(pytester, CLEAN)
    assert run("--check", "--out", "out") == (
        1,
        "aura docs: the architecture docs are stale; run `aura docs` to regenerate:\n"
        "  - out/README.md is missing\n"
        "  - out/events.md is missing\n"
        "  - out/events.schema.json is missing\n"
        "  - out/modules/shipping.md is missing\n"
        "  - out/modules/stock.md is missing\n",
    )
    assert run("--out", "out") == (0, "aura docs: wrote 5 files to out (5 changed).\n")
    assert run("--check", "--out", "out") == (0, "aura docs: 5 files in out are up to date.\n")


def test_check_detects_edited_and_leftover_pages(pytester: pytest.Pytester) -> None:
    write_project(pytester, CLEAN)
    run("--out", "out")
    out = pytester.path / "out"
    (out / "events.md").write_text(f"{HEADER}\n\nedited by hand\n")
    (out / "modules" / "old.md").write_text(f"{HEADER}\n\n# Module `old`\n")
    (out / "notes.md").write_text("# Notes kept by people\n")
    assert run("--check", "--out", "out") == (
        1,
        "aura docs: the architecture docs are stale; run `aura docs` to regenerate:\n"
        "  - out/events.md is out of date\n"
        "  - out/modules/old.md is no longer generated\n",
    )
    assert run("--out", "out") == (0, "aura docs: wrote 5 files to out (2 changed).\n")
    assert not (out / "modules" / "old.md").exists()
    assert (out / "notes.md").read_text() == "# Notes kept by people\n"
    assert run("--check", "--out", "out")[0] == 0


def test_files_aura_docs_did_not_write_are_never_overwritten_or_removed(
    pytester: pytest.Pytester,
) -> None:
    write_project(pytester, CLEAN)
    readme = pytester.path / "README.md"
    readme.write_text("# The shop\n")
    (pytester.path / "events.md").write_text("# Our events, by hand\n")
    deeper = pytester.path / "docs" / "architecture" / "README.md"
    deeper.parent.mkdir(parents=True)
    deeper.write_text(f"{HEADER}\n\n# Generated elsewhere\n")

    def files() -> list[Path]:  # the check's cache aside: the scans are kept whatever is refused
        found = pytester.path.rglob("*")
        return sorted(path for path in found if path.is_file() and ".aura_cache" not in path.parts)

    before = files()

    assert run("--out", ".") == (
        2,
        "aura docs: error: aura docs would overwrite README.md, events.md, which it did not "
        "write (no generated header). Pass --out a folder of its own (the default is "
        "docs/architecture), or move those files away; nothing was written.\n",
    )
    assert run("--out", "README.md") == (
        2,
        "aura docs: error: aura docs writes a folder of pages, and README.md is a file. Pass "
        "--out a folder of its own (the default is docs/architecture); nothing was written.\n",
    )
    assert run("--out", "README.md/pages") == (
        2,
        "aura docs: error: aura docs writes its pages in README.md/pages, and README.md is a "
        "file, so no folder can be made there. Pass --out a folder of its own (the default is "
        "docs/architecture); nothing was written.\n",
    )
    (pytester.path / "site").mkdir()
    (pytester.path / "site" / "modules").write_text("not a folder\n")
    assert run("--out", "site") == (
        2,
        "aura docs: error: aura docs writes its pages in site/modules, and site/modules is a "
        "file, so no folder can be made there. Pass --out a folder of its own (the default is "
        "docs/architecture); nothing was written.\n",
    )
    (pytester.path / "site" / "modules").unlink()
    (pytester.path / "site").rmdir()
    assert files() == before
    assert readme.read_text() == "# The shop\n"

    # A folder above other generated pages: it writes its own, and removes none of theirs.
    assert run("--out", "docs")[0] == 0
    assert deeper.read_text() == f"{HEADER}\n\n# Generated elsewhere\n"
    assert (pytester.path / "docs" / "events.md").read_text().startswith(HEADER)


def test_an_empty_out_is_refused_not_read_as_the_working_folder(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    write_project(pytester, CLEAN)
    with pytest.raises(SystemExit) as exited:
        main(["docs", "--out", ""])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "aura docs: error: argument --out: needs a folder, got ''. Pass e.g. --out "
        "docs/architecture (the default)"
    )
    assert not (pytester.path / "README.md").exists()


def test_pages_generated_by_an_older_aura_are_recognised_as_generated(
    pytester: pytest.Pytester,
) -> None:
    write_project(pytester, CLEAN)
    run("--out", "out")
    old = "<!-- Generated by `aura docs` from the platform's declarations. Do not edit. -->"
    (pytester.path / "out/modules/gone.md").write_text(f"{old}\n\n# Module `gone`\n")
    assert run("--check", "--out", "out")[1].endswith(
        "  - out/modules/gone.md is no longer generated\n"
    )


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


# --- Mermaid: labels escaped by its grammar, and rendered by its own renderer --------------------


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ('say "hi"', "say #quot;hi#quot;"),
        ("C# & F#", "C#35; #amp; F#35;"),
        ("List<int> -> x", "List#lt;int#gt; -#gt; x"),
        ("a|b", "a#124;b"),
        ("`code`", "#96;code#96;"),
        ("#quot; as written", "#35;quot; as written"),
        ("two\nlines", "two lines"),
        ("user.* and end", "user.* and end"),
    ],
)
def test_mermaid_labels_escape_what_its_grammar_reads(text: str, escaped: str) -> None:
    assert mermaid_text(text) == escaped


def test_node_ids_avoid_mermaid_keywords_and_characters_and_stay_unique() -> None:
    assert node_ids(["users", "end", "Graph", "shop-api", "shop_api", "9lives", "ü"]) == {
        "users": "users",
        "end": "module_end",
        "Graph": "module_Graph",
        "shop-api": "shop_api",
        "shop_api": "shop_api_2",
        "9lives": "module_9lives",
        "ü": "_",
    }


def test_a_long_label_names_the_first_uses_and_counts_the_rest(pytester: pytest.Pytester) -> None:
    files = dict(SHOP)
    files["src/shop/orders/api.py"] = "".join(
        f"from shop.billing.api.part{number} import x\n" for number in range(6)
    )
    for number in range(6):
        files[f"src/shop/billing/api/part{number}.py"] = "x = 1\n"
    del files["src/shop/billing/api.py"]  # a package now, with six parts
    files["src/shop/billing/api/__init__.py"] = ""
    write_project(pytester, files)
    readme = map_docs(pytester.path)["README.md"]
    assert (
        '    orders -->|"shop.billing.api.part0<br/>shop.billing.api.part1<br/>'
        'shop.billing.api.part2<br/>and 3 more"| billing\n'
    ) in readme


WEIRD = {
    **SHOP,
    "pyproject.toml": SHOP["pyproject.toml"]
    + """
[[tool.aura.boundaries.couplings]]
call = "get_model"
pattern = '^(?P<module>\\w+)\\.'
""",
    "src/shop/orders/domain.py": """
def place(bus, apps):
    apps.get_model('billing.Invoice<"#1" & |x|>')
    bus.publish('order.placed', {})
""",
}


def _mermaid_cli() -> str | None:
    return os.environ.get("AURA_MMDC") or shutil.which("mmdc")


def _label_texts(diagram: str) -> list[str]:
    """Every node and edge label of ``diagram`` as Mermaid shows it: codes decoded, one a line."""
    labels = re.findall(r'\["([^"]*)"\]|\|"([^"]*)"\|', diagram)
    texts = []
    for node, edge in labels:
        for line in (node or edge).split("<br/>"):
            decoded = re.sub(r"#(\d+);", r"&#\1;", line)
            texts.append(html.unescape(re.sub(r"#([a-z]+);", r"&\1;", decoded)))
    return texts


def _svg_text(svg: str) -> str:
    """The text an SVG shows (its labels), without its style sheet."""
    svg = re.sub(r"<style>.*?</style>", "", svg, flags=re.DOTALL)
    return "\n".join(html.unescape(text) for text in re.findall(r">([^<>]+)<", svg))


@pytest.mark.skipif(
    _mermaid_cli() is None,
    reason="mermaid-cli is not installed: npm install @mermaid-js/mermaid-cli, then put mmdc on "
    "PATH or set AURA_MMDC to it",
)
@pytest.mark.parametrize("project", ["reference platform", "weird labels"])
def test_the_diagram_renders_with_every_label_in_mermaids_own_renderer(
    project: str, pytester: pytest.Pytester
) -> None:
    if project == "reference platform":
        readme = (REPO / "docs" / "architecture" / "README.md").read_text(encoding="utf-8")
    else:
        write_project(pytester, WEIRD)
        readme = map_docs(pytester.path)["README.md"]
    diagram = readme.split("```mermaid\n", 1)[1].split("```", 1)[0]
    source, target = pytester.path / "diagram.mmd", pytester.path / "diagram.svg"
    source.write_text(diagram, encoding="utf-8")
    command = [str(_mermaid_cli()), "-i", str(source), "-o", str(target), "-q"]
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is not None:  # a system browser instead of puppeteer's download; as root too
        config = pytester.path / "puppeteer.json"
        config.write_text(json.dumps({"executablePath": browser, "args": ["--no-sandbox"]}))
        command += ["-p", str(config)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    shown = _svg_text(target.read_text(encoding="utf-8"))
    expected = _label_texts(diagram)
    assert expected
    if project == "weird labels":
        assert 'billing.Invoice<"#1" & |x|>' in expected
    assert [text for text in expected if text not in shown] == []


def test_the_catalog_shows_a_contract_s_own_docstring_only() -> None:
    import dataclasses

    from pydantic import BaseModel

    from aura.architecture.docs import _own_doc

    class Plain(BaseModel):
        n: int

    class Documented(BaseModel):
        """A visit was booked.

        More."""

        n: int

    bare = dataclasses.make_dataclass("Bare", [("n", int)])
    assert [_own_doc(Plain), _own_doc(bare)] == ["", ""]  # not BaseModel's, not the signature
    assert _own_doc(Documented) == "A visit was booked.\n\nMore."
