"""What the plugin costs a session (issue 24): it imports Aura's runtime only when a test uses a
fixture, keeps every test isolated all the same, and builds one trace per test, whichever
fixture asks for it first."""

from __future__ import annotations

import json

import pytest

from aura.testing.export import trace_file_stem
from tests.plugin.test_plugin import APP

# What a session that uses no Aura fixture must not import: the runtime and its dependencies.
RUNTIME = (
    "aura.platform",
    "aura.bus",
    "aura.events",
    "aura.container",
    "aura.registry",
    "aura.defaults",
    "aura.module",
    "aura.testing.recorders",
    "aura.testing.fakes",
    "aura.testing.bridge",
    "aura.testing.scenario",
    "pydantic",
    "sqlite3",
)


def run_alone(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.RunResult:
    """Run the project in a fresh interpreter with Aura's plugin and no other (none of them
    imports Aura's runtime first, as a coverage or BDD plugin could)."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    return pytester.runpytest_subprocess("-p", "aura.testing.plugin", "-p", "no:cacheprovider")


def test_a_session_whose_tests_use_no_fixture_imports_none_of_the_runtime(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeconftest(
        """
import sys
from pathlib import Path


def pytest_sessionfinish(session):
    loaded = sorted(name for name in sys.modules if name.startswith(("aura", "pyd", "sqlite")))
    Path(session.config.rootpath, "loaded.txt").write_text("\\n".join(loaded))
"""
    )
    pytester.makepyfile(
        test_plain="""
import pytest


def test_one():
    assert 1 + 1 == 2


@pytest.mark.parametrize("number", [1, 2])
def test_two(number):
    assert number > 0
"""
    )
    # What the session imports without the plugin (a coverage run measuring subprocesses
    # imports sqlite3 for its data file) is not the plugin's.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=3)
    without = set((pytester.path / "loaded.txt").read_text().splitlines())
    result = run_alone(pytester, monkeypatch)
    result.assert_outcomes(passed=3)
    loaded = set((pytester.path / "loaded.txt").read_text().splitlines())
    assert "aura.testing.plugin" in loaded  # the plugin ran its hooks for every test
    assert [name for name in RUNTIME if name in loaded - without] == []


def test_a_test_that_first_imports_aura_leaves_nothing_to_the_next(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        late="""
from dataclasses import dataclass

from aura.events import event_contract


@event_contract("isolation.parcel_sent")
@dataclass
class ParcelSent:
    weight: int
""",
        test_first_import="""
import sys
from dataclasses import dataclass

closed = []


class Mailer:
    def close(self):
        closed.append("mailer")


def failing(data):
    raise ValueError("boom")


def test_a_imports_aura_and_leaves_state_behind():
    # Nothing imported the defaults or the catalog before this test: the plugin did not.
    assert "aura.container" not in sys.modules and "aura.events" not in sys.modules
    from aura import event_bus, get_container, service_registry
    from aura.events import event_contract

    import late  # noqa: F401  # its contract is declared at its first import

    @event_contract("isolation.order_placed")
    @dataclass
    class OrderPlaced:
        total: int

    event_bus.subscribe("probe.sent", failing, "notifications")
    event_bus.publish("probe.sent", {"id": 1}, "users")
    service_registry.register_service("notifications", "Mailer", Mailer)
    get_container().register("mailer", Mailer)
    get_container().resolve("mailer")
    assert len(event_bus.dead_letters()) == 1


def test_b_sees_none_of_it():
    from aura import event_bus, get_container, service_registry
    from aura.events import default_catalog

    assert closed == ["mailer"]  # the container the first test built was closed after it
    assert event_bus.subscriptions() == []
    assert event_bus.dead_letters() == []
    assert [info.name for info in service_registry.services()] == []
    assert not get_container().is_registered("mailer")
    assert "isolation.order_placed" not in default_catalog
    assert "isolation.parcel_sent" in default_catalog
""",
    )
    pytester.syspathinsert()
    run_alone(pytester, monkeypatch).assert_outcomes(passed=2)


@pytest.fixture
def shop(pytester: pytest.Pytester) -> pytest.Pytester:
    for name, text in APP.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    pytester.syspathinsert()
    return pytester


def test_one_trace_per_test_whichever_fixture_asks_first(shop: pytest.Pytester) -> None:
    shop.makepyfile(
        test_flow="""
import pytest


def add_fig(platform):
    platform.container.resolve("catalog.Catalog").add("fig", 2)


def test_platform_first(aura_platform, aura_trace, published_events):
    add_fig(aura_platform)
    assert [event.event_type for event in aura_trace.events()] == [
        "product.added", "order.catalog_changed"
    ]
    assert published_events.events == aura_trace.events()


def test_trace_first(aura_trace, aura_platform):
    add_fig(aura_platform)
    assert len(aura_trace.events()) == 2


def test_recorders_only(request, service_calls, published_events):
    add_fig(request.getfixturevalue("aura_platform"))
    assert len(published_events.events) == 2
    assert request.getfixturevalue("aura_trace").events() == published_events.events


def test_failing(aura_platform):
    add_fig(aura_platform)
    assert False, "on purpose"
"""
    )
    result = shop.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", "--aura-trace-dir", "t")
    result.assert_outcomes(passed=3, failed=1)
    # The failing test's report shows its trace, as recorded until the test failed.
    result.stdout.re_match_lines([r"-+ aura trace -+", r"#1 product\.added from catalog .*"])
    for name in ("test_platform_first", "test_trace_first", "test_recorders_only"):
        stem = trace_file_stem(f"test_flow.py::{name}")
        entries = json.loads((shop.path / "t" / f"{stem}.json").read_text())
        # Written once the platform was torn down: every delivery in it, in order.
        assert [entry["kind"] for entry in entries] == ["event", "delivery", "event"], name


def test_a_rerun_of_a_test_gets_a_new_trace_and_platform(shop: pytest.Pytester) -> None:
    shop.makeconftest(
        """
import pytest
from _pytest.runner import runtestprotocol


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    # What pytest-rerunfailures does: the same item run again.
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for _ in range(2):
        runtestprotocol(item, nextitem=nextitem, log=True)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True
"""
    )
    shop.makepyfile(
        test_flow="""
platforms = []


def test_flow(aura_platform, published_events):
    assert aura_platform not in platforms
    platforms.append(aura_platform)
    aura_platform.container.resolve("catalog.Catalog").add("fig", 2)
    assert len(published_events.events) == 2
"""
    )
    result = shop.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_aura_platform_takes_the_request_pytest_sets_it_up_for(shop: pytest.Pytester) -> None:
    # A pytester run nested in a test: each platform is its own test's, set up by its own
    # session, even when a runner goes around pytest_runtest_protocol.
    shop.makeconftest(
        """
import pytest
from _pytest.runner import runtestprotocol


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    for index, item in enumerate(session.items):
        following = session.items[index + 1] if index + 1 < len(session.items) else None
        runtestprotocol(item, nextitem=following, log=True)
    return True
"""
    )
    shop.makepyfile(
        test_flow="""
import pytest


@pytest.mark.aura_platform("catalog")
def test_catalog(aura_platform, aura_trace):
    assert sorted(aura_platform.modules) == ["catalog"]
    aura_platform.container.resolve("catalog.Catalog").add("fig", 2)
    assert [event.event_type for event in aura_trace.events()] == ["product.added"]


def test_all(aura_platform):
    assert sorted(aura_platform.modules) == ["catalog", "orders"]
"""
    )
    result = shop.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_the_platform_fixture_cannot_be_called() -> None:
    from aura.testing import plugin

    with pytest.raises(pytest.UsageError) as raised:
        next(plugin.aura_platform.__wrapped__())  # type: ignore[attr-defined]
    assert str(raised.value) == (
        "aura_platform is set up by pytest for a test that requests it; it cannot be called."
    )


def test_a_projects_own_aura_trace_is_the_one_aura_platform_records_into(
    shop: pytest.Pytester,
) -> None:
    shop.makeconftest(
        """
import pytest

from aura.testing import Trace

made = []


@pytest.fixture
def aura_trace():
    trace = Trace()
    trace.made_by_the_project = True
    made.append(trace)
    yield trace
    trace.detach()
"""
    )
    shop.makepyfile(
        test_flow="""
from conftest import made


def test_the_override_records(aura_platform, published_events):
    aura_platform.container.resolve("catalog.Catalog").add("fig", 2)
    [trace] = made
    assert trace.made_by_the_project
    assert [event.event_type for event in trace.events()] == [
        "product.added", "order.catalog_changed"
    ]
    assert published_events.events == trace.events()
"""
    )
    shop.runpytest("-p", "no:randomly", "-p", "no:cacheprovider").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    "override",
    [
        "@pytest.fixture\ndef aura_trace():\n    return mark(Trace())",
        "@pytest.fixture(name='aura_trace')\ndef my_trace():\n    return mark(Trace())",
    ],
    ids=["in the test module", "by name="],
)
def test_an_aura_trace_of_the_test_module_is_the_one_aura_platform_records_into(
    shop: pytest.Pytester, override: str
) -> None:
    shop.makepyfile(
        test_flow=f"""
import pytest

from aura.testing import Trace

made = []


def mark(trace):
    made.append(trace)
    return trace


{override}


def test_the_override_records(aura_platform):
    aura_platform.container.resolve("catalog.Catalog").add("fig", 2)
    [trace] = made
    assert [event.event_type for event in trace.events()] == [
        "product.added", "order.catalog_changed"
    ]


class TestInAClass:
    def test_the_module_s_override_applies_to_its_classes(self, aura_platform, aura_trace):
        assert aura_trace is made[-1]
"""
    )
    shop.makepyfile(
        test_other="""
def test_other_modules_keep_the_plugin_s_own(aura_platform, aura_trace):
    import test_flow

    assert aura_trace not in test_flow.made
"""
    )
    result = shop.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
