"""The platform's own steps for the specs in features/, built on the factories and the services.

The generic steps (events, handlers, dead letters, time, unavailable services, breakers) come
from ``aura.testing.bdd``, loaded below. These steps name people (``an active patient
"alice"``), book, run and cancel sessions, subscribe to plans and swap the email backend or the
payment gateway. What they create is stored in ``aura_bdd_values`` (``alice``, ``session``,
``sessions.<patient>``, ``subscription``) so tables can say ``{alice.id}``.

A When step that books or subscribes records how it ended instead of raising; a Then step checks
each outcome once (``the booking is refused: "..."``, ``the session is scheduled``), and a
scenario that ends with a refusal nobody checked fails.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from pytest_bdd import given, parsers, step, then, when
from pytest_bdd.parser import Feature, Scenario, Step

from aura.exceptions import ConfigurationError
from aura.platform import Platform
from aura.testing.bdd import expand
from modules.billing.application import BillingService
from modules.billing.domain import BillingRepository, PaymentGateway, PaymentResult
from modules.billing.infrastructure import DecliningPaymentGateway, LocalPaymentGateway
from modules.notifications.application import EmailService
from modules.notifications.domain import EmailBackend
from modules.notifications.infrastructure import FailingEmailBackend
from tests.factories import TherapistFactory, UserFactory


def pytest_configure(config: pytest.Config) -> None:
    """Load the generic steps (the module markers are declared in pyproject.toml).

    The modules are first imported by the platform fixture, often under a scenario's frozen
    clock: Aura makes freezegun's classes validatable (aura.frozen_time).
    """
    config.pluginmanager.import_plugin("aura.testing.bdd")


def pytest_bdd_after_step(
    request: pytest.FixtureRequest,
    feature: Feature,
    scenario: Scenario,
    step: Step,
    step_func: Callable[..., object],
    step_func_args: dict[str, object],
) -> None:
    """After a scenario's last step passed, fail it if an outcome was never checked."""
    if step is scenario.steps[-1] and "clinic" in request.fixturenames:
        clinic: Clinic = request.getfixturevalue("clinic")
        clinic.assert_refusals_checked()


# --- the scenario's world ------------------------------------------------------------------------


@dataclasses.dataclass
class Attempt:
    """One booking or subscription a When step tried, and how it ended."""

    what: str
    result: dict[str, Any] | None = None
    error: Exception | None = None
    checked: bool = False

    def describe(self) -> str:
        """How it ended, in words."""
        if self.error is None:
            return f"it succeeded: {self.result}"
        return f"it was refused with {type(self.error).__name__}: {self.error}"


class UnreachablePaymentProvider(PaymentGateway):
    """A gateway whose provider cannot be reached until ``reachable`` is set: it raises."""

    def __init__(self, gateway: PaymentGateway) -> None:
        self.gateway = gateway
        self.reachable = False

    def charge(
        self, patient_id: int, amount_cents: int, currency: str, reference: str
    ) -> PaymentResult:
        """Raise ConnectionError while unreachable; else charge through the real gateway."""
        if not self.reachable:
            raise ConnectionError("payment provider unreachable")
        return self.gateway.charge(patient_id, amount_cents, currency, reference)


class Clinic:
    """The scenario's world: the platform, who and what the steps named, what they tried."""

    def __init__(self, platform: Platform, values: dict[str, Any], stack: ExitStack) -> None:
        self.platform = platform
        self.values = values
        self.stack = stack
        self.attempts: list[Attempt] = []
        self.provider: UnreachablePaymentProvider | None = None
        values.setdefault("sessions", {})

    def service(self, module: str, name: str) -> Any:
        """A module's service, as a caller from outside the modules gets it."""
        return self.platform.registry.get_service(module, name)

    def person(self, name: str, role: str | None = None) -> dict[str, Any]:
        """The user a step named; refuse a name no step introduced, or of another role."""
        person = self.values.get(name)
        if not isinstance(person, dict) or "role" not in person:
            raise ConfigurationError(
                f"No one called {name!r} was introduced; start with: Given an active patient "
                f'"{name}" (or therapist).'
            )
        if role is not None and person["role"] != role:
            raise ConfigurationError(f"{name!r} is a {person['role']}, not a {role}.")
        return person

    def user_id(self, reference: str) -> int:
        """The id of ``"bob"`` (a person a step named) or of ``user 99`` (an id as such)."""
        if reference.startswith("user "):
            return int(reference.removeprefix("user "))
        return int(self.person(reference.strip('"'))["id"])

    @property
    def session(self) -> dict[str, Any]:
        """The session booked last."""
        if "session" not in self.values:
            raise ConfigurationError(
                'No session was booked yet: Given "alice" has booked a session with "bob" at ...'
            )
        session: dict[str, Any] = self.values["session"]
        return session

    def book(self, patient: str, therapist: str, moment: str, kind: str | None) -> dict[str, Any]:
        """Schedule a session through mentalhealth; remember it as the latest and the patient's."""
        sessions = self.service("mentalhealth", "TherapySessionService")
        session: dict[str, Any] = sessions.schedule_session(
            self.person(patient)["id"],
            self.user_id(therapist),
            datetime.fromisoformat(moment),
            kind or "individual",
        )
        self.values["session"] = self.values["sessions"][patient] = session
        return session

    def subscribe(self, name: str, plan: str) -> dict[str, Any]:
        """Activate a plan through billing; remember it as the subscription."""
        billing = self.service("billing", "BillingService")
        subscription: dict[str, Any] = billing.activate_subscription(self.person(name)["id"], plan)
        self.values["subscription"] = subscription
        return subscription

    def attempt(self, what: str, action: Callable[[], dict[str, Any]]) -> None:
        """Run a booking or subscription, recording how it ended for a Then step to check."""
        try:
            self.attempts.append(Attempt(what, result=action()))
        except Exception as error:  # a refusal is an outcome the spec checks, not a crash
            self.attempts.append(Attempt(what, error=error))

    def outcomes(self, what: str, count: int) -> list[Attempt]:
        """Mark the ``count`` unchecked attempts of one kind checked and return them."""
        unchecked = [a for a in self.attempts if a.what == what and not a.checked]
        if len(unchecked) != count:
            raise AssertionError(
                f"Expected {count} {what} attempt{'s' if count != 1 else ''} to check; "
                f"{len(unchecked)} {'is' if len(unchecked) == 1 else 'are'} unchecked."
            )
        for attempt in unchecked:
            attempt.checked = True
        return unchecked

    def assert_succeeded(self, what: str) -> None:
        """Check that every unchecked attempt of one kind succeeded."""
        for attempt in [a for a in self.attempts if a.what == what and not a.checked]:
            attempt.checked = True
            if attempt.error is not None:
                raise AssertionError(
                    f"Expected the {what} to succeed; {attempt.describe()}"
                ) from attempt.error

    def assert_refusals_checked(self) -> None:
        """Fail when a refusal was recorded but no step checked it."""
        missed = [a for a in self.attempts if a.error is not None and not a.checked]
        if missed:
            raise AssertionError(
                f"{len(missed)} attempt{'s' if len(missed) != 1 else ''} ended in a refusal that "
                'no step checked; add: Then the booking is refused: "..."\n'
                + "\n".join(f"  {a.what}: {a.describe()}" for a in missed)
            )

    def use_gateway(self, gateway: PaymentGateway) -> None:
        """Make billing charge through ``gateway``; billing must not have been built yet."""
        self._swap(
            PaymentGateway,
            gateway,
            BillingService,
            "gateway",
            "Billing already charges through {}: it was built before this step. Put the step "
            "before anything that reaches billing, such as the first booking.",
        )

    def use_email_backend(self, backend: EmailBackend) -> None:
        """Make notifications send through ``backend``; they must not have been built yet."""
        self._swap(
            EmailBackend,
            backend,
            EmailService,
            "backend",
            "Notifications already send through {}: the service was built before this step. "
            "Put the step before anything that sends email, such as the first booking.",
        )

    def _swap(
        self, port: type[Any], adapter: object, service: type[Any], held_as: str, refusal: str
    ) -> None:
        """Override ``port`` until the scenario ends, and check that ``service`` now holds it.

        A service receives its ports when it is built, so the override reaches it only if it
        is built inside the override (which resolving it here does, unless it was built before).
        """
        container = self.platform.container
        self.stack.enter_context(container.override(port, adapter))
        held = getattr(container.resolve(service), held_as)
        if held is not adapter:
            raise ConfigurationError(refusal.format(type(held).__name__))


@pytest.fixture
def clinic(aura_platform: Platform, aura_bdd_values: dict[str, Any]) -> Iterator[Clinic]:
    """The scenario's world on this test's platform; its overrides end at teardown."""
    with ExitStack() as stack:
        yield Clinic(aura_platform, aura_bdd_values, stack)


# --- people --------------------------------------------------------------------------------------


@given(parsers.re(r'an active (?P<role>patient|therapist) "(?P<name>[^"]+)"'))
def an_active_user(clinic: Clinic, role: str, name: str) -> None:
    """Register a patient or therapist through the users module."""
    factory = TherapistFactory if role == "therapist" else UserFactory
    clinic.values[name] = factory(name=name, email=f"{name}@example.com")


@step(parsers.re(r'the (?P<role>patient|therapist) "(?P<name>[^"]+)" is deactivated'))
def user_is_deactivated(clinic: Clinic, role: str, name: str) -> None:
    """Deactivate a user through the users module."""
    clinic.service("users", "UserService").deactivate_user(clinic.person(name, role)["id"])


@given(parsers.re(r"no user has the id (?P<user_id>\d+)"))
def no_user_has_the_id(clinic: Clinic, user_id: str) -> None:
    """Check that an id names no user."""
    found = clinic.service("users", "UserService").get_user_by_id(int(user_id))
    assert found is None, f"Expected no user with id {user_id}; found {found}."


# --- sessions ------------------------------------------------------------------------------------

_BOOKING = (
    r'"(?P<patient>[^"]+)" {verb} an? (?:"(?P<kind>[^"]+)" )?session with '
    r'(?P<therapist>"[^"]+"|user \d+) at "(?P<moment>[^"]+)"'
)


@given(parsers.re(_BOOKING.format(verb="has booked")))
def has_booked(clinic: Clinic, patient: str, kind: str | None, therapist: str, moment: str) -> None:
    """Book a session that must be accepted."""
    clinic.book(patient, therapist, moment, kind)


@when(parsers.re(_BOOKING.format(verb="books")))
def books(clinic: Clinic, patient: str, kind: str | None, therapist: str, moment: str) -> None:
    """Try to book a session; a Then step checks how it ended."""
    clinic.attempt("booking", lambda: clinic.book(patient, therapist, moment, kind))


@when(parsers.re(_BOOKING.format(verb="tries to book") + r" (?P<times>\d+) times"))
def tries_to_book(
    clinic: Clinic, patient: str, kind: str | None, therapist: str, moment: str, times: str
) -> None:
    """Try the same booking several times."""
    for _ in range(int(times)):
        clinic.attempt("booking", lambda: clinic.book(patient, therapist, moment, kind))


@then(parsers.re(r'the (?P<what>booking|subscription) is refused: "(?P<message>.*)"'))
@then(
    parsers.re(r'the (?P<count>\d+) (?P<what>booking|subscription)s are refused: "(?P<message>.*)"')
)
def is_refused(clinic: Clinic, what: str, message: str, count: str = "1") -> None:
    """Check that the unchecked attempts were refused with this message ({name.field} expanded)."""
    expected = expand(message, clinic.values)
    for attempt in clinic.outcomes(what, int(count)):
        if attempt.error is None or str(attempt.error) != expected:
            raise AssertionError(
                f"Expected the {what} to be refused with {expected!r}; {attempt.describe()}"
            )


@given("the session has started")
@when("the session starts")
def session_starts(clinic: Clinic) -> None:
    """Start the session booked last."""
    clinic.service("mentalhealth", "TherapySessionService").start_session(clinic.session["id"])


@given("the session has been completed")
@when("the session is completed")
def session_is_completed(clinic: Clinic) -> None:
    """Complete the session booked last."""
    clinic.service("mentalhealth", "TherapySessionService").complete_session(clinic.session["id"])


@when(parsers.re(r'the session is cancelled because "(?P<reason>[^"]+)"'))
def session_is_cancelled(clinic: Clinic, reason: str) -> None:
    """Cancel the session booked last."""
    sessions = clinic.service("mentalhealth", "TherapySessionService")
    sessions.cancel_session(clinic.session["id"], reason)


_STATUS = r"(?P<status>scheduled|in progress|completed|cancelled)"


@then(parsers.re(r"the session is " + _STATUS))
def the_session_is(clinic: Clinic, status: str) -> None:
    """Check the booking succeeded (if one is unchecked) and the session's status."""
    clinic.assert_succeeded("booking")
    _assert_status(clinic, clinic.session, "the session", status)


@then(parsers.re(r'the session of "(?P<patient>[^"]+)" is ' + _STATUS))
def the_session_of_is(clinic: Clinic, patient: str, status: str) -> None:
    """Check the status of a patient's session."""
    _assert_status(clinic, clinic.values["sessions"][patient], f"{patient}'s session", status)


def _assert_status(clinic: Clinic, session: dict[str, Any], label: str, status: str) -> None:
    sessions = clinic.service("mentalhealth", "TherapySessionService")
    now = sessions.get_session(session["id"])
    assert now is not None, f"Expected {label} (id {session['id']}) to exist; it does not."
    actual = now["status"].replace("_", " ")
    assert actual == status, f"Expected {label} to be {status}; it is {actual}: {now}"


# --- notifications and billing -------------------------------------------------------------------


@given(parsers.re(r'the email backend is down with "(?P<error>[^"]+)"'))
def email_backend_is_down(clinic: Clinic, error: str) -> None:
    """Refuse every email with ConnectionError(error); notifications records each failure."""
    clinic.use_email_backend(FailingEmailBackend(error))


@given(parsers.re(r'the payment gateway declines every charge with "(?P<reason>[^"]+)"'))
def gateway_declines(clinic: Clinic, reason: str) -> None:
    """Make billing's gateway decline every charge."""
    clinic.use_gateway(DecliningPaymentGateway(reason))


@given("the payment provider is unreachable")
def provider_is_unreachable(clinic: Clinic) -> None:
    """Make billing's gateway raise ConnectionError until the provider is reachable again."""
    clinic.provider = UnreachablePaymentProvider(LocalPaymentGateway(clinic.platform.database))
    clinic.use_gateway(clinic.provider)


@when("the payment provider is reachable again")
def provider_is_reachable_again(clinic: Clinic) -> None:
    """Let billing's gateway reach the provider."""
    assert clinic.provider is not None, "The payment provider was never made unreachable."
    clinic.provider.reachable = True


@then(parsers.re(r"the session's charge is (?P<status>pending|captured|failed|void)"))
def the_charge_is(clinic: Clinic, status: str) -> None:
    """Check the status of the session's charge in billing."""
    charge = clinic.service("billing", "BillingService").get_session_charge(clinic.session["id"])
    assert charge is not None, f"Expected session {clinic.session['id']} to have a charge."
    assert charge["status"] == status, f"Expected the charge to be {status}: {charge}"


@then(
    parsers.re(
        r'"(?P<patient>[^"]+)" owes (?P<amount>\d+\.\d\d) (?P<currency>[A-Z]{3}) for the '
        r"session, (?P<status>pending|captured|failed|void)"
    )
)
def owes_for_the_session(
    clinic: Clinic, patient: str, amount: str, currency: str, status: str
) -> None:
    """Check the patient, amount, currency and status of the session's charge."""
    charge = clinic.service("billing", "BillingService").get_session_charge(clinic.session["id"])
    expected = {
        "patient_id": clinic.person(patient)["id"],
        "amount_cents": _cents(amount),
        "currency": currency,
        "status": status,
    }
    assert charge is not None, f"Expected session {clinic.session['id']} to have a charge."
    assert {key: charge[key] for key in expected} == expected, f"The charge is {charge}"


def _cents(amount: str) -> int:
    return int(Decimal(amount) * 100)


# --- subscriptions -------------------------------------------------------------------------------


@given(parsers.re(r'"(?P<name>[^"]+)" has subscribed to the "(?P<plan>[^"]+)" plan'))
def has_subscribed(clinic: Clinic, name: str, plan: str) -> None:
    """Activate a plan that must be accepted."""
    clinic.subscribe(name, plan)


@when(parsers.re(r'"(?P<name>[^"]+)" subscribes to the "(?P<plan>[^"]+)" plan'))
def subscribes(clinic: Clinic, name: str, plan: str) -> None:
    """Try to activate a plan; a Then step checks how it ended."""
    clinic.attempt("subscription", lambda: clinic.subscribe(name, plan))


@then(
    parsers.re(
        r'billing holds an active "(?P<plan>[^"]+)" subscription for "(?P<name>[^"]+)" at '
        r"(?P<price>\d+\.\d\d) EUR a month"
    )
)
def billing_holds(clinic: Clinic, plan: str, name: str, price: str) -> None:
    """Check billing's stored active subscription of a user (its plan, price and interval)."""
    clinic.assert_succeeded("subscription")
    active = clinic.platform.container.resolve(BillingRepository).active_subscription(
        clinic.person(name)["id"]
    )
    assert active is not None, f"Expected billing to hold an active subscription for {name}."
    found = (active.plan, active.amount_cents, active.currency, active.interval)
    assert found == (plan, _cents(price), "EUR", "monthly"), f"Billing holds {active}"


@then(parsers.re(r'billing holds no active subscription for "(?P<name>[^"]+)"'))
def billing_holds_none(clinic: Clinic, name: str) -> None:
    """Check that billing stored no active subscription for a user."""
    repository = clinic.platform.container.resolve(BillingRepository)
    active = repository.active_subscription(clinic.person(name)["id"])
    assert active is None, f"Expected no active subscription for {name}; billing holds {active}"
