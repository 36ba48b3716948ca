"""Generic pytest-bdd steps for specs of cross-module flows, backed by the harness fixtures.

Its length (~680 lines) is the step library's: one catalogue of steps a spec writer reads in
one place, with the parsing helpers they share.

Load it as a plugin: ``pytest_plugins = ["aura.testing.bdd"]`` in the root ``conftest.py``, or
``-p aura.testing.bdd``. Every feature file can then use these steps (values in double quotes)::

    Then the event "order.placed" is published
    Then the event "order.placed" is published twice           (once, 3 times, ...)
    Then the event "order.placed" is published by the "orders" module
    Then the event "order.placed" is published once by the "orders" module with:
      | field | value |
      | sku   | apple |
    Then the event "order.placed" is not published              (may end "with:" and a table)
    Then no event is published
    Then the events are published in order:
      | order.placed |
      | order.paid   |
    Then every event shares one correlation id
    Then no handler failed
    Then the "orders" module's handler for "product.added" failed
    When the dead letters are retried
    Then there are no dead letters                  (there is 1 dead letter for the "x" module)
    Given the time is "2030-01-07T09:00:00+00:00"
    When 30 seconds pass                            (minutes, hours, days; "1 minute passes")
    Given only the modules "orders", "billing" are running       (with their dependencies)
    Given the "catalog" module's "Catalog" service is unavailable
    When the "catalog" module's "Catalog" service is available again
    Then the circuit breaker of "catalog.Catalog" is open        (closed, half-open)

**What a Then step looks at.** Checks of events and handlers look at what happened since the
current When block began (the When steps that follow a Given or a Then step): events published
while a scenario is arranged are not its outcomes. Before any When step they see everything.

**Table values.** A cell is JSON when it parses as JSON (``7``, ``true``, ``"7"``, ``null``),
else text. ``{alice.id}`` stands for a value that a step stored in the ``aura_bdd_values`` dict
(keys, then attributes, along the dots); :func:`expand` and :func:`parse_value` do the same for
a project's own steps.

A failing step names itself, its feature file and line; the report carries the aura trace. At
collection, a step that no definition matches is reported as a collection error.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import pytest

from aura.exceptions import MissingExtraError

try:
    from pytest_bdd import given, parsers, step, then
    from pytest_bdd.parser import Feature, Scenario, Step
    from pytest_bdd.scenario import find_fixturedefs_for_step, scenario_wrapper_template_registry
except ImportError:  # pragma: no cover - its own process: tests/unit/test_extras.py
    raise MissingExtraError(
        "aura.testing.bdd needs pytest-bdd, which is not installed. Install Aura's testing "
        "extra: pip install 'aura-modulith[testing]'"
    ) from None

from aura.breaker import BreakerState, CircuitBreaker
from aura.bus import Delivery
from aura.conformance import contract_methods
from aura.events import Event
from aura.exceptions import ConfigurationError, ServiceNotAvailableError
from aura.platform import Platform
from aura.registry import ServiceInfo
from aura.testing.fakes import RecordingFake
from aura.testing.plugin import FrozenClock
from aura.testing.recorders import PublishedEvents

__all__ = ["Outages", "expand", "lookup", "outcome_events", "parse_value"]

DataTable = Sequence[Sequence[str]]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*(?:\.\w+)*)\}")
_TIME_EXAMPLE = "2030-01-07T09:00:00+00:00"


# --- values in tables and quoted texts ---------------------------------------------------------


@pytest.fixture
def aura_bdd_values() -> dict[str, Any]:
    """Named values that a spec's cells and quoted texts name as ``{name}`` or ``{name.field}``.

    Steps store what they create here (``aura_bdd_values["alice"] = user``); it starts empty.
    """
    return {}


def lookup(path: str, values: Mapping[str, Any]) -> Any:
    """Return the value at a dotted ``path`` (``alice.id``): keys of mappings, else attributes."""
    current: Any = values
    walked: list[str] = []
    for key in path.split("."):
        if isinstance(current, Mapping) and key in current:
            current = current[key]
        elif not isinstance(current, Mapping) and hasattr(current, key):
            current = getattr(current, key)
        else:
            raise _names_nothing(path, ".".join(walked), key, current)
        walked.append(key)
    return current


def _names_nothing(path: str, walked: str, key: str, current: Any) -> ConfigurationError:
    if isinstance(current, Mapping):
        known = ", ".join(map(str, current))
    else:
        known = ", ".join(name for name in dir(current) if not name.startswith("_"))
    where = walked or "the scenario's values"
    return ConfigurationError(
        f"{{{path}}} names nothing: {where} has no {key!r}. Known there: "
        f"{known or 'nothing yet'}. A step must store it in aura_bdd_values first."
    )


def expand(text: str, values: Mapping[str, Any]) -> str:
    """Replace each ``{name.field}`` in ``text`` with that value, as text."""
    return _PLACEHOLDER.sub(lambda match: str(lookup(match.group(1), values)), text)


def parse_value(text: str, values: Mapping[str, Any]) -> Any:
    """Return a cell's value: a lone ``{name.field}`` is that value, else JSON, else the text."""
    whole = _PLACEHOLDER.fullmatch(text.strip())
    if whole is not None:
        return lookup(whole.group(1), values)
    expanded = expand(text, values)
    try:
        return json.loads(expanded, parse_constant=_no_constant)
    except ValueError:
        return expanded


def _no_constant(name: str) -> NoReturn:
    raise ValueError(name)  # NaN and Infinity stay text: no spec means the float


def _fields(datatable: DataTable, values: Mapping[str, Any], step_text: str) -> dict[str, Any]:
    """Read a ``field | value`` table (header optional) into a subset; dotted fields nest."""
    rows = [list(row) for row in datatable]
    if rows and [cell.strip().lower() for cell in rows[0]] == ["field", "value"]:
        rows = rows[1:]
    subset: dict[str, Any] = {}
    for number, row in enumerate(rows, start=1):
        if len(row) != 2:
            raise ConfigurationError(
                f"The table of {step_text!r} needs two columns, field | value; row {number} "
                f"has {len(row)}: {' | '.join(row)}."
            )
        *parents, leaf = row[0].strip().split(".")
        target = subset
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = parse_value(row[1], values)
    return subset


def _column(datatable: DataTable | None, step_text: str) -> list[str]:
    """Read a one-column table of event types (a header ``event`` or ``type`` is skipped)."""
    if datatable is None:
        raise ConfigurationError(
            f"{step_text!r} needs a table under it, one event type per row: | order.placed |"
        )
    rows = [list(row) for row in datatable]
    if rows and [cell.strip().lower() for cell in rows[0]] in (["event"], ["type"], ["event type"]):
        rows = rows[1:]
    for number, row in enumerate(rows, start=1):
        if len(row) != 1:
            raise ConfigurationError(
                f"The table of {step_text!r} needs one column, the event type; row {number} has "
                f"{len(row)}: {' | '.join(row)}."
            )
    return [row[0].strip() for row in rows]


# --- what a Then step looks at ------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class _Progress:
    """Where a scenario is: the step running, the type of the one before, where When began."""

    step_text: str = "the step"
    previous_type: str | None = None
    window_start: int = 0
    trace_start: int = 0  # the trace's length when When began: retries are in the trace too


_progress_key = pytest.StashKey[_Progress]()


def pytest_bdd_before_step(
    request: pytest.FixtureRequest,
    feature: Feature,
    scenario: Scenario,
    step: Step,
    step_func: Callable[..., object],
) -> None:
    """Note where each When block begins: Then steps look at what happened from there on."""
    progress = request.node.stash.setdefault(_progress_key, _Progress())
    if step.type == "when" and progress.previous_type != "when":
        progress.window_start, progress.trace_start = _marks(request)
    progress.previous_type = step.type
    progress.step_text = f"{step.keyword.strip()} {step.name}"


def _step_text(request: pytest.FixtureRequest) -> str:
    progress = request.node.stash.get(_progress_key, None)
    return progress.step_text if progress is not None else "the step"


def _marks(request: pytest.FixtureRequest) -> tuple[int, int]:
    """How many events, and how many trace entries, were recorded so far."""
    if "aura_platform" not in request.fixturenames:
        return 0, 0  # nothing runs yet, so nothing was published; do not start a platform for it
    recorder: PublishedEvents = request.getfixturevalue("published_events")
    return len(recorder), recorder.mark()


def outcome_events(request: pytest.FixtureRequest) -> PublishedEvents:
    """The events the current When block published (every event, before any When step)."""
    recorder: PublishedEvents = request.getfixturevalue("published_events")
    progress = request.node.stash.get(_progress_key, None)
    start = progress.window_start if progress is not None else 0
    # A view, so failures still list every recorded event, not only the window's.
    return recorder.since(start)


def _failed_handlers(request: pytest.FixtureRequest) -> tuple[PublishedEvents, list[Delivery]]:
    """The handlers that failed since the When block began, retries of older events included."""
    window = outcome_events(request)
    progress = request.node.stash.get(_progress_key, None)
    since = progress.trace_start if progress is not None else 0
    return window, window.failed_deliveries(since)


def _describe_delivery(delivery: Delivery) -> str:
    handler = delivery.handler_name.rsplit(".", 1)[-1]
    return (
        f"  {delivery.subscriber_module}:{handler} on {delivery.event.event_type!r} "
        f"({delivery.event.event_id[:8]}): {type(delivery.error).__name__}: {delivery.error}"
    )


# --- events -------------------------------------------------------------------------------------

_COUNTS = {"once": 1, "twice": 2}


def _times(count: str | None) -> int | None:
    if count is None:
        return None
    return _COUNTS.get(count) or int(count.split()[0])


@then(
    parsers.re(
        r'the event "(?P<event_type>[^"]+)" is published'
        r"(?: (?P<count>once|twice|\d+ times?))?"
        r'(?: by the "(?P<module>[^"]+)" module)?'
        r"(?P<table> with:)?"
    )
)
def event_is_published(
    request: pytest.FixtureRequest,
    aura_bdd_values: dict[str, Any],
    event_type: str,
    count: str | None,
    module: str | None,
    table: str | None,
    datatable: DataTable | None = None,
) -> None:
    """Then the event "T" is published [N times] [by the "M" module] [with: field | value]."""
    __tracebackhide__ = True
    subset = _subset(request, table, datatable, aura_bdd_values)
    window = outcome_events(request)
    if module is not None:
        window = _published_by(window, event_type, module)
    window.assert_published(event_type, times=_times(count), **subset)


def _subset(
    request: pytest.FixtureRequest,
    table: str | None,
    datatable: DataTable | None,
    values: Mapping[str, Any],
) -> dict[str, Any]:
    step_text = _step_text(request)
    if datatable is None:
        if table:
            raise ConfigurationError(
                f"{step_text!r} needs a table under it: | field | value | rows, one per field."
            )
        return {}
    return _fields(datatable, values, step_text)


def _published_by(window: PublishedEvents, event_type: str, module: str) -> PublishedEvents:
    """Narrow to ``module``'s events, failing when the type came only from other modules."""
    __tracebackhide__ = True
    of_type = window.of_type(event_type)
    if of_type and not of_type.from_module(module):
        sources = Counter(event.source_module for event in of_type)
        found = ", ".join(f"{name} ({number})" for name, number in sources.items())
        raise AssertionError(
            f"Expected the event {event_type!r} to be published by the {module!r} module; it was "
            f"published by: {found}.\n{window.render(list(of_type))}"
        )
    return window.from_module(module)


@then(parsers.re(r'the event "(?P<event_type>[^"]+)" is not published(?P<table> with:)?'))
def event_is_not_published(
    request: pytest.FixtureRequest,
    aura_bdd_values: dict[str, Any],
    event_type: str,
    table: str | None,
    datatable: DataTable | None = None,
) -> None:
    """Then the event "T" is not published [with: field | value]."""
    __tracebackhide__ = True
    subset = _subset(request, table, datatable, aura_bdd_values)
    outcome_events(request).assert_not_published(event_type, **subset)


@then("no event is published")
def no_event_is_published(request: pytest.FixtureRequest) -> None:
    """Then no event is published."""
    __tracebackhide__ = True
    window = outcome_events(request)
    if window:
        raise AssertionError(
            f"Expected no event; {len(window)} {'was' if len(window) == 1 else 'were'} "
            f"published:\n{window.render(list(window))}"
        )


@then("the events are published in order:")
def events_are_published_in_order(
    request: pytest.FixtureRequest, datatable: DataTable | None = None
) -> None:
    """Then the events are published in order: | type | rows (other events may come between)."""
    __tracebackhide__ = True
    types = _column(datatable, _step_text(request))
    outcome_events(request).assert_sequence(types)


@then("every event shares one correlation id")
def every_event_shares_one_correlation_id(request: pytest.FixtureRequest) -> None:
    """Then every event shares one correlation id."""
    __tracebackhide__ = True
    window = outcome_events(request)
    if not window:
        raise AssertionError("Expected events sharing one correlation id; no event was published.")
    groups: dict[str | None, list[Event]] = {}
    for event in window:
        groups.setdefault(event.correlation_id, []).append(event)
    if len(groups) > 1:
        lines = [f"Expected every event to share one correlation id; found {len(groups)}:"]
        for correlation, events in groups.items():
            lines.append(f"correlation {(correlation or '-')[:8]}:")
            lines.append(window.render(events))
        raise AssertionError("\n".join(lines))


# --- handlers and dead letters ------------------------------------------------------------------


@then("no handler failed")
def no_handler_failed(request: pytest.FixtureRequest) -> None:
    """Then no handler failed."""
    __tracebackhide__ = True
    _, failures = _failed_handlers(request)
    if failures:
        raise AssertionError(
            f"Expected no handler to fail; {len(failures)} failed:\n"
            + "\n".join(map(_describe_delivery, failures))
        )


@step(parsers.re(r'the "(?P<module>[^"]+)" module\'s handler for "(?P<event_type>[^"]+)" failed'))
def handler_failed(request: pytest.FixtureRequest, module: str, event_type: str) -> None:
    """Given/Then the "M" module's handler for "T" failed; that failure is then expected."""
    __tracebackhide__ = True
    window, failures = _failed_handlers(request)
    if not any(
        d.subscriber_module == module and d.event.event_type == event_type for d in failures
    ):
        others = "\n".join(map(_describe_delivery, failures)) or "  none"
        published = "was" if window.of_type(event_type) else "was not"
        raise AssertionError(
            f"Expected a handler of the {module!r} module to fail on {event_type!r}; none did "
            f"(an {event_type!r} event {published} published). Handler failures:\n{others}"
        )
    recorder: PublishedEvents = request.getfixturevalue("published_events")
    recorder.expect_failures(module, event_type)  # the spec expects it: not a teardown failure


@step("the dead letters are retried")
def dead_letters_are_retried(aura_platform: Platform) -> None:
    """When the dead letters are retried: each is redelivered to the handler that failed."""
    aura_platform.bus.retry_dead_letters()


@step(
    parsers.re(
        r"there (?:is|are) (?P<count>no|\d+) dead letters?"
        r'(?: for the "(?P<module>[^"]+)" module)?'
    )
)
def dead_letters_are_kept(aura_platform: Platform, count: str, module: str | None) -> None:
    """Then there are no dead letters / there is 1 dead letter [for the "M" module]."""
    __tracebackhide__ = True
    letters = [
        letter
        for letter in aura_platform.bus.dead_letters()
        if module in (None, letter.subscriber_module)
    ]
    expected = 0 if count == "no" else int(count)
    if len(letters) != expected:
        whose = f" for the {module!r} module" if module else ""
        listing = "\n".join(f"  {letter.describe()}" for letter in letters)
        raise AssertionError(
            f"Expected {expected} dead letter{'s' if expected != 1 else ''}{whose}; found "
            f"{len(letters)}" + (f":\n{listing}" if letters else ".")
        )


# --- time ---------------------------------------------------------------------------------------


@step(parsers.re(r'the time is "(?P<moment>[^"]*)"'))
def the_time_is(frozen_time: FrozenClock, moment: str) -> None:
    """Given the time is "<ISO-8601>": time is frozen there and moves only when a step says."""
    frozen_time.move_to(_moment(moment))


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigurationError(
            f'"the time is" needs an ISO-8601 time such as "{_TIME_EXAMPLE}"; got {text!r}.'
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@step(
    parsers.re(
        r"(?P<amount>\d+(?:\.\d+)?) (?P<unit>second|minute|hour|day)s? "
        r"(?:pass|passes|have passed|has passed)"
    )
)
def time_passes(request: pytest.FixtureRequest, amount: str, unit: str) -> None:
    """When 30 seconds pass: frozen time moves on; event timestamps and breakers follow."""
    if "frozen_time" not in request.fixturenames:
        # Freezing now would make monotonic clocks jump (freezegun counts from the epoch), so a
        # breaker opened earlier would seem to have waited for decades.
        raise ConfigurationError(
            f'Time can pass only while it is frozen: add Given the time is "{_TIME_EXAMPLE}" '
            "before anything that starts a clock, e.g. in the Background."
        )
    clock: FrozenClock = request.getfixturevalue("frozen_time")
    clock.tick(timedelta(**{f"{unit}s": float(amount)}))


# --- modules and services -----------------------------------------------------------------------


@given(
    parsers.re(
        r'only the modules? (?P<names>"[^"]+"(?:(?:, | and |, and )"[^"]+")*) (?:is|are) running'
    )
)
def only_the_modules_are_running(request: pytest.FixtureRequest, names: str) -> None:
    """Given only the modules "a", "b" are running: the platform has them and their dependencies."""
    wanted = re.findall(r'"([^"]+)"', names)
    if "aura_platform" in request.fixturenames:
        platform: Platform = request.getfixturevalue("aura_platform")
        running = ", ".join(platform.modules) or "no module"
        raise ConfigurationError(
            f"{_step_text(request)!r} must come before any step that uses the platform; it "
            f"already runs {running}. Move the step to the start of the scenario or of its "
            "Background."
        )
    # The platform is built on first use, so the harness's own marker chooses its modules.
    request.node.add_marker(pytest.mark.aura_platform(*wanted), append=False)
    request.getfixturevalue("aura_platform")


class Outages:
    """Services a scenario made unavailable: each contract method raises ServiceNotAvailableError.

    Calls still go through the cross-module proxy and the service's circuit breaker, as they
    would to a service that is down.
    """

    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._down: dict[tuple[str, str], ExitStack] = {}

    def take_down(self, module: str, service: str) -> RecordingFake:
        """Serve a stand-in for ``module.service`` whose every method raises; return it."""
        if (module, service) in self._down:
            raise ConfigurationError(f"{module}.{service} is already unavailable.")
        fake = _unavailable(_service_info(self._platform, module, service))
        stack = ExitStack()
        stack.enter_context(self._platform.registry.override(module, service, fake))
        self._down[(module, service)] = stack
        return fake

    def bring_back(self, module: str, service: str) -> None:
        """Serve the real ``module.service`` again."""
        stack = self._down.pop((module, service), None)
        if stack is None:
            down = ", ".join(f"{m}.{s}" for m, s in self._down) or "none"
            raise ConfigurationError(
                f"{module}.{service} was not made unavailable, so it cannot come back. "
                f"Unavailable now: {down}."
            )
        stack.close()

    def close(self) -> None:
        """Bring every service back, the last taken down first."""
        while self._down:
            self._down.popitem()[1].close()


def _service_info(platform: Platform, module: str, service: str) -> ServiceInfo:
    offered = {info.service_name: info for info in platform.registry.services(module)}
    if service in offered:
        return offered[service]
    if not offered:
        modules = ", ".join(platform.registry.modules()) or "none"
        raise ConfigurationError(
            f"No module {module!r} offers a service on this platform. Modules that do: {modules}."
        )
    raise ConfigurationError(
        f"No service {service!r} in module {module!r}. Registered there: {', '.join(offered)}."
    )


def _unavailable(info: ServiceInfo) -> RecordingFake:
    contract = info.contract
    if contract is None:
        provider = info.provider
        contract = provider if inspect.isclass(provider) else type(provider)
    fake = RecordingFake.for_contract(contract, name=f"Unavailable{info.service_name}")
    message = (
        f"Service {info.service_name!r} of module {info.module_name!r} is unavailable: the "
        "scenario made it so."
    )
    for method in contract_methods(contract):
        fake.answers(method, _raiser(message))
    return fake


def _raiser(message: str) -> Callable[..., NoReturn]:
    def unavailable(*args: Any, **kwargs: Any) -> NoReturn:
        raise ServiceNotAvailableError(message)  # a fresh error per call: no shared traceback

    return unavailable


@pytest.fixture
def aura_outages(aura_platform: Platform) -> Iterator[Outages]:
    """The services this test made unavailable; all are back at teardown."""
    outages = Outages(aura_platform)
    try:
        yield outages
    finally:
        outages.close()


_SERVICE = r'the "(?P<module>[^"]+)" module\'s "(?P<service>[^"]+)" service'


@step(parsers.re(_SERVICE + " is unavailable"))
def service_is_unavailable(aura_outages: Outages, module: str, service: str) -> None:
    """Given the "M" module's "S" service is unavailable: calls raise ServiceNotAvailableError."""
    aura_outages.take_down(module, service)


@step(parsers.re(_SERVICE + " is available again"))
def service_is_available_again(aura_outages: Outages, module: str, service: str) -> None:
    """When the "M" module's "S" service is available again: the real service answers."""
    aura_outages.bring_back(module, service)


@then(
    parsers.re(
        r'the circuit breaker of "(?P<module>[^".]+)\.(?P<service>[^"]+)" is '
        r"(?P<state>open|closed|half-open|half open)"
    )
)
def circuit_breaker_is(aura_platform: Platform, module: str, service: str, state: str) -> None:
    """Then the circuit breaker of "M.S" is open / closed / half-open."""
    __tracebackhide__ = True
    info = _service_info(aura_platform, module, service)
    breaker = info.policy.breaker if info.policy is not None else None
    if not isinstance(breaker, CircuitBreaker):
        raise ConfigurationError(
            f"{module}.{service} has no circuit breaker. Declare one with "
            f"module.add_service(..., breaker=lambda: CircuitBreaker(...))."
        )
    expected = BreakerState[re.sub(r"[- ]", "_", state.upper())]
    actual = breaker.state
    if actual is not expected:
        raise AssertionError(
            f"Expected the circuit breaker of {module}.{service} to be {expected.value}; it is "
            f"{actual.value} ({breaker.failure_count} of {breaker.failure_threshold} failures)."
        )


# --- reporting ----------------------------------------------------------------------------------


def pytest_bdd_step_error(
    request: pytest.FixtureRequest,
    feature: Feature,
    scenario: Scenario,
    step: Step,
    step_func: Callable[..., object],
    step_func_args: dict[str, object],
    exception: Exception,
) -> None:
    """Name the failing step, its feature file and line under the error pytest shows."""
    where = os.path.relpath(feature.filename, request.config.rootpath)
    exception.add_note(
        f"Failing step: {step.keyword.strip()} {step.name}\n"
        f"  in {where}, line {step.line_number}, scenario {scenario.name!r}"
    )


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Report scenario steps that no step definition matches, as collection errors."""
    fixture_manager = config.pluginmanager.get_plugin("funcmanage")
    unbound: dict[str, dict[str, None]] = {}
    for item in items:
        for line in _unbound_steps(item, fixture_manager, config):
            unbound.setdefault(item.nodeid.split("::")[0], {})[line] = None
    for nodeid, lines in unbound.items():
        message = (
            f"{len(lines)} step{'s' if len(lines) != 1 else ''} of the scenarios bound here "
            f"match{'es' if len(lines) == 1 else ''} no step definition:\n"
            + "\n".join(lines)
            + "\nDefine each with @given/@when/@then in a conftest.py, or fix its wording to "
            "match an existing step (aura.testing.bdd lists the generic ones)."
        )
        report = pytest.CollectReport(nodeid, "failed", longrepr=message, result=[])
        session.ihook.pytest_collectreport(report=report)


def _unbound_steps(item: pytest.Item, fixture_manager: Any, config: pytest.Config) -> list[str]:
    try:
        template = scenario_wrapper_template_registry.get(getattr(item, "obj", None))  # type: ignore[arg-type]
    except TypeError:  # not weak-referenceable: not a scenario
        return []
    if template is None or not isinstance(item, pytest.Function):
        return []
    callspec = getattr(item, "callspec", None)
    example = callspec.params.get("_pytest_bdd_example", {}) if callspec is not None else {}
    scenario = template.render(example)
    where = os.path.relpath(scenario.feature.filename, config.rootpath)
    return [
        f"  {where}:{bdd_step.line_number}: {bdd_step.keyword.strip()} {bdd_step.name}"
        f" (scenario {scenario.name!r})"
        for bdd_step in scenario.steps
        if next(iter(find_fixturedefs_for_step(bdd_step, fixture_manager, item)), None) is None
    ]
