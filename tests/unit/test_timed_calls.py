"""Timed service calls: what a timeout stops, what it cannot, and the threads it runs calls on.

An ``async`` call is cancelled at its timeout. A sync call cannot be interrupted: it goes on in
the background and its error says so. Each service has its own few daemon worker threads, so
hung calls of one service never starve another, a service whose workers all hang refuses at
once, and neither ``close()`` nor the end of the process waits for a hung call. Real threads and
real time throughout, with timeouts of at most 0.5 s.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aura import context
from aura.breaker import BreakerState, CircuitBreaker
from aura.exceptions import (
    ConfigurationError,
    ServiceBusyError,
    ServiceNotAvailableError,
    ServiceTimeoutError,
)
from aura.registry import CallPolicy, ServiceRegistry

ROOT = Path(__file__).resolve().parents[2]


class Payments:
    """A service whose calls take as long as the test says, and record what they did."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release
        self.charges: list[int] = []
        self.charged = threading.Event()
        self.hanging = threading.Event()

    def charge(self, amount: int, seconds: float) -> str:
        time.sleep(seconds)
        self.charges.append(amount)
        self.charged.set()
        return "charged"

    def hang(self) -> str:
        self.hanging.set()  # a worker thread is taken
        self.release.wait(5)  # until the test lets go
        return "late"

    def charge_when_released(self, amount: int) -> str:
        self.release.wait(5)  # until the test lets go, well past the timeout
        self.charges.append(amount)
        self.charged.set()
        return "charged"

    def refund(self, amount: int) -> str:
        self.charges.append(-amount)
        return "refunded"

    def fail(self) -> str:
        raise ValueError("card declined")

    def who(self) -> tuple[str | None, str | None]:
        return context.current_module(), context.get_correlation_id()

    async def acharge(self, amount: int, seconds: float, stopped: list[str]) -> str:
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            stopped.append("cancelled")
            raise
        self.charges.append(amount)
        return "charged"

    async def atimeout(self) -> str:
        raise TimeoutError("the bank did not answer")


class Catalog:
    def price(self, sku: str) -> int:
        return 5


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of each test, so that every hung call ends."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def registry() -> Iterator[ServiceRegistry]:
    registry = ServiceRegistry()
    yield registry
    registry.close()


def payments(
    registry: ServiceRegistry, release: threading.Event, timeout: float = 0.1, workers: int = 4
) -> Payments:
    service = Payments(release)
    policy = CallPolicy(timeout=timeout, max_workers=workers)
    registry.register_service("billing", "Payments", service, policy=policy)
    return service


def call_from_orders(registry: ServiceRegistry, method: str, *args: object) -> object:
    with context.module_scope("orders"):
        return getattr(registry.get_service("billing", "Payments"), method)(*args)


# --- sync calls: the timeout stops the wait, not the call ----------------------------------------


def test_a_sync_call_past_its_timeout_says_it_goes_on_in_the_background(
    registry: ServiceRegistry, release: threading.Event
) -> None:
    payments(registry, release)

    with pytest.raises(ServiceTimeoutError) as caught:
        call_from_orders(registry, "charge", 30, 0.3)

    assert str(caught.value) == (
        "Call to billing.Payments.charge did not return within 0.1 s; it is still running in "
        "the background and what it does may still take effect — make it idempotent or give it "
        "its own timeout."
    )


def test_the_effect_of_a_timed_out_sync_call_still_lands(
    registry: ServiceRegistry, release: threading.Event
) -> None:
    service = payments(registry, release)

    with pytest.raises(ServiceTimeoutError):
        call_from_orders(registry, "charge_when_released", 30)
    assert service.charges == []

    release.set()  # the call, still running in the background, goes on
    assert service.charged.wait(10)
    assert service.charges == [30]  # as its error warned


def test_a_sync_call_that_returns_in_time_returns_its_result(
    registry: ServiceRegistry, release: threading.Event
) -> None:
    payments(registry, release)

    assert call_from_orders(registry, "charge", 30, 0) == "charged"


def test_a_timed_sync_calls_own_error_propagates_unchanged(
    registry: ServiceRegistry, release: threading.Event
) -> None:
    payments(registry, release)

    with pytest.raises(ValueError, match=r"^card declined$"):
        call_from_orders(registry, "fail")


def test_a_timed_sync_call_runs_as_the_provider_in_the_callers_correlation(
    registry: ServiceRegistry, release: threading.Event
) -> None:
    payments(registry, release)

    with context.correlation_scope("cid-42"):
        assert call_from_orders(registry, "who") == ("billing", "cid-42")


def test_a_timed_out_call_counts_as_a_failure_of_the_services_breaker(
    registry: ServiceRegistry, release: threading.Event
) -> None:
    breaker = CircuitBreaker(failure_threshold=1, timeout=60, name="billing.Payments")
    policy = CallPolicy(breaker=breaker, timeout=0.1)
    registry.register_service("billing", "Payments", Payments(release), policy=policy)

    with pytest.raises(ServiceTimeoutError):
        call_from_orders(registry, "hang")

    assert breaker.state is BreakerState.OPEN


# --- async calls: the timeout cancels ------------------------------------------------------------


def test_an_async_call_past_its_timeout_is_cancelled_and_says_so(
    registry: ServiceRegistry, release: threading.Event
) -> None:
    payments(registry, release)
    stopped: list[str] = []

    async def main() -> str:
        with pytest.raises(ServiceTimeoutError) as caught:
            await call_from_orders(registry, "acharge", 30, 0.3, stopped)  # type: ignore[misc]
        return str(caught.value)

    assert asyncio.run(main()) == (
        "Call to billing.Payments.acharge did not return within 0.1 s and was cancelled: what it "
        "did before the await it was stopped at stays done, nothing after it runs. Raise the "
        "service's timeout, or make the call cheaper."
    )
    assert stopped == ["cancelled"]


def test_the_effect_of_a_cancelled_async_call_never_lands(
    registry: ServiceRegistry, release: threading.Event
) -> None:
    service = payments(registry, release)

    async def main() -> None:
        with pytest.raises(ServiceTimeoutError):
            await call_from_orders(registry, "acharge", 30, 0.3, [])  # type: ignore[misc]
        await asyncio.sleep(0.4)  # past the moment the charge would have landed

    asyncio.run(main())

    assert service.charges == []


def test_an_async_methods_own_timeout_error_is_not_renamed(
    registry: ServiceRegistry, release: threading.Event
) -> None:
    payments(registry, release)

    async def main() -> None:
        await call_from_orders(registry, "atimeout")  # type: ignore[misc]

    with pytest.raises(TimeoutError) as caught:
        asyncio.run(main())

    assert type(caught.value) is TimeoutError
    assert str(caught.value) == "the bank did not answer"


# --- each service's own bounded workers ----------------------------------------------------------


def test_hung_calls_of_one_service_do_not_starve_another(
    registry: ServiceRegistry, release: threading.Event
) -> None:
    payments(registry, release, timeout=0.05)
    registry.register_service("catalog", "Catalog", Catalog(), timeout=0.5)
    for _ in range(8):  # more hung calls than the process-wide pool of old had threads
        with pytest.raises((ServiceTimeoutError, ServiceNotAvailableError)):
            call_from_orders(registry, "hang")

    with context.module_scope("orders"):
        assert registry.get_service("catalog", "Catalog").price("fig") == 5


def test_a_service_whose_workers_all_hang_refuses_the_next_call_at_once(
    registry: ServiceRegistry, release: threading.Event
) -> None:
    payments(registry, release, timeout=0.5, workers=2)  # a refusal well apart from a timeout
    for _ in range(2):
        with pytest.raises(ServiceTimeoutError):
            call_from_orders(registry, "hang")

    started = time.perf_counter()
    with pytest.raises(ServiceBusyError) as caught:  # a ServiceNotAvailableError: 503
        call_from_orders(registry, "refund", 30)
    waited = time.perf_counter() - started

    assert str(caught.value) == (
        "Call to billing.Payments.refund was refused at once: all 2 worker thread(s) of "
        "billing.Payments are still running calls that timed out, so it could not start. Find "
        "out why they hang (give them their own timeout), or raise the service's max_workers."
    )
    assert waited < 0.25  # not its timeout of 0.5 s


def test_a_refused_call_never_runs(registry: ServiceRegistry, release: threading.Event) -> None:
    service = payments(registry, release, timeout=0.05, workers=1)
    with pytest.raises(ServiceTimeoutError):
        call_from_orders(registry, "hang")
    with pytest.raises(ServiceNotAvailableError):
        call_from_orders(registry, "refund", 30)

    release.set()
    time.sleep(0.1)

    assert service.charges == []


def test_a_worker_freed_by_its_hung_call_ending_serves_again(
    registry: ServiceRegistry, release: threading.Event
) -> None:
    payments(registry, release, timeout=0.1, workers=1)
    with pytest.raises(ServiceTimeoutError):
        call_from_orders(registry, "hang")
    with pytest.raises(ServiceNotAvailableError):
        call_from_orders(registry, "refund", 30)

    release.set()  # the hung call returns; its worker is free again
    deadline = time.monotonic() + 10
    while True:
        try:
            assert call_from_orders(registry, "refund", 30) == "refunded"
            break
        except ServiceNotAvailableError:
            assert time.monotonic() < deadline, "the worker never came back"
            time.sleep(0.01)


def test_a_call_queued_behind_busy_workers_past_its_timeout_is_dropped_unrun(
    registry: ServiceRegistry, release: threading.Event
) -> None:
    service = payments(registry, release, timeout=0.2, workers=1)
    first_error: list[str] = []

    def first_call() -> None:
        try:
            call_from_orders(registry, "hang")
        except ServiceTimeoutError as exc:
            first_error.append(str(exc))

    first = threading.Thread(target=first_call)
    first.start()
    assert service.hanging.wait(10)  # the only worker is busy with the first call, hung

    with pytest.raises(ServiceTimeoutError) as caught:
        call_from_orders(registry, "refund", 30)
    first.join(10)
    release.set()
    time.sleep(0.1)

    assert str(caught.value) == (
        "Call to billing.Payments.refund did not start within 0.2 s: the service's 1 worker "
        "thread(s) were all busy with other calls, so it was dropped and did not run. Raise the "
        "service's timeout or its max_workers, or make its calls cheaper."
    )
    assert service.charges == []
    assert first_error[0].endswith(
        "it is still running in the background and what it does "
        "may still take effect — make it idempotent or give it its "
        "own timeout."
    )


def test_calls_beyond_the_workers_wait_their_turn_within_their_timeout(
    registry: ServiceRegistry, release: threading.Event
) -> None:
    # The third waits 0.2 s for its turn: its timeout leaves a loaded machine room to spare.
    payments(registry, release, timeout=2.0, workers=1)
    results: list[object] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(call_from_orders(registry, "charge", 1, 0.1))
        )
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert results == ["charged"] * 3


def test_max_workers_must_be_a_whole_number_of_threads() -> None:
    for wrong in (0, True, 2.5):
        with pytest.raises(ConfigurationError) as caught:
            CallPolicy(timeout=1.0, max_workers=wrong)  # type: ignore[arg-type]
        assert str(caught.value) == (
            f"A service's max_workers must be a whole number of threads, at least 1, got "
            f"{wrong!r}. Pass e.g. CallPolicy(timeout=2.0, max_workers=4)."
        )


def test_the_default_is_four_workers_per_service() -> None:
    assert CallPolicy(timeout=1.0).max_workers == 4


# --- daemon workers: nothing waits for a hung call -----------------------------------------------


def test_workers_are_daemon_threads_named_for_their_service(
    registry: ServiceRegistry, release: threading.Event
) -> None:
    before = set(threading.enumerate())  # an earlier test's released worker may still be ending
    payments(registry, release, timeout=0.05)
    with pytest.raises(ServiceTimeoutError):
        call_from_orders(registry, "hang")

    [worker] = [
        t for t in set(threading.enumerate()) - before if t.name.startswith("aura-call-billing.")
    ]
    assert (worker.name, worker.daemon) == ("aura-call-billing.Payments-1", True)


def test_close_returns_at_once_while_a_call_hangs(
    registry: ServiceRegistry, release: threading.Event
) -> None:
    payments(registry, release, timeout=0.05)
    with pytest.raises(ServiceTimeoutError):
        call_from_orders(registry, "hang")

    started = time.perf_counter()
    registry.close()

    assert time.perf_counter() - started < 1.0  # waiting for the hung call would take 5 s


def test_a_timed_call_after_close_starts_new_workers(
    registry: ServiceRegistry, release: threading.Event
) -> None:
    payments(registry, release)
    assert call_from_orders(registry, "refund", 1) == "refunded"
    registry.close()

    assert call_from_orders(registry, "refund", 2) == "refunded"


def test_the_process_exits_at_once_while_a_timed_out_call_hangs(tmp_path: Path) -> None:
    script = tmp_path / "hang.py"
    script.write_text(
        textwrap.dedent(
            """
            import time
            from aura import context
            from aura.exceptions import ServiceTimeoutError
            from aura.registry import ServiceRegistry

            class Slow:
                def wait(self) -> str:
                    time.sleep(60)
                    return "late"

            registry = ServiceRegistry()
            registry.register_service("slow", "Slow", Slow(), timeout=0.2)
            try:
                with context.module_scope("caller"):
                    registry.get_service("slow", "Slow").wait()
            except ServiceTimeoutError as exc:
                print(type(exc).__name__)
            registry.close()
            """
        )
    )
    started = time.monotonic()
    done = subprocess.run(  # the aura of this checkout, whatever is installed
        [sys.executable, str(script)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    took = time.monotonic() - started

    assert (done.returncode, done.stdout, done.stderr) == (0, "ServiceTimeoutError\n", "")
    assert took < 15  # a start-up on a loaded machine, not the 60 s of the hung call


# --- calls that must stay on the caller's thread -------------------------------------------------


def test_an_inline_call_past_its_timeout_says_it_could_not_be_stopped(
    release: threading.Event,
) -> None:
    registry = ServiceRegistry(inline_when=lambda: True)
    service = payments(registry, release, timeout=0.05)

    with pytest.raises(ServiceTimeoutError) as caught:
        call_from_orders(registry, "charge", 30, 0.15)

    assert re.fullmatch(
        re.escape("Call to billing.Payments.charge returned after ")
        + r"(?:0\.1[5-9]|0\.[2-9]\d|[1-9]\d*\.\d\d)"  # 0.15 s or more (a loaded machine)
        + re.escape(
            " s, past its timeout of 0.05 s. It ran on the caller's thread (inline_when held, "
            "as inside a database transaction), so it could not be stopped: what it did has "
            "happened, except what it wrote in the caller's transaction, which rolls back if "
            "this error leaves it. Raise the service's timeout, or make the call cheaper."
        ),
        str(caught.value),
    )
    assert service.charges == [30]
