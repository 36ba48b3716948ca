"""Aura installed as a user installs it: the wheel, in a fresh virtual environment, outside
this repository.

The wheel is built from this checkout without build isolation (hatchling is a dev dependency);
the venv installs it with pip (its cache makes a second run quick). It proves that the wheel
holds ``aura`` alone, that an unrelated project's pytest passes with only the core installed,
and that a tiny project configured in ``[tool.aura]`` gets ``aura check``, ``aura docs`` and the
``published_events`` fixture from that venv.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import aura

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 300  # seconds for one pip install; it normally takes a few

TINY = {
    "pyproject.toml": """
[project]
name = "tiny"
version = "0"

[tool.aura]
modules = "tiny.modules"
""",
    ".importlinter": """
[importlinter]
root_packages =
    tiny
contract_types =
    module_dependencies: aura.architecture.contracts.ModuleDependencyContract

[importlinter:contract:independent]
name = tiny modules are independent
type = independence
modules =
    tiny.modules.*

[importlinter:contract:declared]
name = tiny modules declare what they use
type = module_dependencies
""",
    "tiny/__init__.py": "",
    "tiny/contracts.py": """
from dataclasses import dataclass

from aura import event_contract


@event_contract("order.placed")
@dataclass
class OrderPlaced:
    sku: str


@event_contract("mail.sent")
@dataclass
class MailSent:
    about: str
""",
    "tiny/modules/__init__.py": "",
    "tiny/modules/orders/__init__.py": """
from aura import Module, event_bus
from tiny import contracts  # noqa: F401  (the event contracts)

module = Module("orders")
module.publishes("order.placed")


class Orders:
    def place(self, sku: str) -> None:
        event_bus.publish("order.placed", {"sku": sku}, "orders")


module.add_service("Orders", Orders)
""",
    "tiny/modules/mailer/__init__.py": """
from aura import Module, event_bus
from tiny import contracts  # noqa: F401  (the event contracts)

module = Module("mailer")
module.publishes("mail.sent")


@module.subscribe("order.placed")
def confirm(data: dict) -> None:
    event_bus.publish("mail.sent", {"about": data["sku"]}, "mailer")
""",
    "tests/test_flow.py": """
def test_placing_an_order_sends_a_mail(aura_platform, published_events):
    aura_platform.registry.get_service("orders", "Orders").place("apple")
    published_events.assert_sequence(["order.placed", "mail.sent"])
    published_events.assert_published("mail.sent", about="apple")
""",
}


def _run(*argv: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(
        [str(part) for part in argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
        "-w", out, REPO, cwd=out,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (path,) = out.glob("aura_modulith-*.whl")
    return path


def test_the_wheel_holds_the_aura_package_alone(wheel: Path) -> None:
    assert wheel.name == f"aura_modulith-{aura.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        tops = {name.split("/", 1)[0] for name in names}
        entry_points = archive.read(
            f"aura_modulith-{aura.__version__}.dist-info/entry_points.txt"
        ).decode()
    assert tops == {"aura", f"aura_modulith-{aura.__version__}.dist-info"}
    assert "aura/py.typed" in names
    assert not [name for name in names if name.endswith(".pth")]
    assert "[pytest11]" in entry_points
    assert "aura.demos" not in entry_points  # the reference platform's demo is not packaged


def test_a_user_installs_the_wheel_and_uses_it_outside_this_repository(
    wheel: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    made = _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"

    # (a) an unrelated project's pytest passes with only pytest and the core installed
    core = _run(python, "-m", "pip", "install", "-q", wheel, "pytest", cwd=tmp_path)
    assert core.returncode == 0, core.stderr
    installed = _run(python, "-m", "pip", "list", "--format=freeze", cwd=tmp_path).stdout
    names = {line.split("==")[0].lower() for line in installed.splitlines()}
    assert "aura-modulith" in names
    assert not names & {"freezegun", "pytest-bdd", "factory-boy", "import-linter", "fastapi"}
    unrelated = tmp_path / "unrelated"
    unrelated.mkdir()
    (unrelated / "test_math.py").write_text("def test_adds():\n    assert 1 + 1 == 2\n")
    plain = _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=unrelated)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "1 passed" in plain.stdout
    header = _run(python, "-m", "pytest", "--co", "-p", "no:cacheprovider", cwd=unrelated)
    assert "aura-modulith-" in header.stdout  # the plugin is loaded, and harmless
    # nothing of the reference platform is importable from the venv
    leaked = _run(python, "-c", "import contracts", cwd=tmp_path)
    assert "No module named 'contracts'" in leaked.stderr

    # (c) a tiny project with two modules configured in [tool.aura]
    project = tmp_path / "tiny"
    for name, text in TINY.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip())
    flow = _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert flow.returncode == 0, flow.stdout + flow.stderr
    assert "1 passed" in flow.stdout
    aura_command = venv / "bin" / "aura"
    docs = _run(aura_command, "docs", cwd=project)
    assert (docs.returncode, docs.stdout) == (
        0,
        "aura docs: wrote 5 files to docs/architecture (5 changed).\n",
    )
    assert sorted(p.name for p in (project / "docs" / "architecture" / "modules").iterdir()) == [
        "mailer.md",
        "orders.md",
    ]
    extra = _run(python, "-m", "pip", "install", "-q", f"{wheel}[architecture]", cwd=tmp_path)
    assert extra.returncode == 0, extra.stderr
    check = _run(aura_command, "check", cwd=project)
    assert (check.returncode, check.stdout) == (
        0,
        "Import contract 'declared' (module_dependencies) not run: aura check runs the same "
        "module map checks itself.\n"
        "aura check: no violations in 2 modules (2 files) and 1 import contract.\n",
    ), check.stdout
