"""Every test file passes alone and in any order: frozen time, defaults and contracts (issue 18)."""

from __future__ import annotations

import pytest

MODELS = """
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import BaseModel

from aura.events import event_contract


class Booking(BaseModel):
    at: datetime
    day: date


@event_contract("booking.made")
@dataclass
class BookingMade:
    at: datetime
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", *args)


def test_models_first_imported_under_frozen_time_validate(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(models=MODELS)
    pytester.syspathinsert()
    pytester.makepyfile(
        test_frozen="""
from datetime import datetime

from aura.bus import EventBus


def test_first_import_inside_frozen_time(frozen_time):
    frozen_time.move_to("2030-01-07T10:00:00+00:00")
    from models import Booking  # first imported here, under freezegun

    booking = Booking(at=datetime.now(), day="2030-01-07")
    assert booking.day.isoformat() == "2030-01-07"
    bus = EventBus()
    bus.publish("booking.made", {"at": "2030-01-07T10:00:00"}, "shop")
"""
    )
    run(pytester).assert_outcomes(passed=1)


def test_a_direct_freeze_time_works_too(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(models=MODELS)
    pytester.syspathinsert()
    pytester.makepyfile(
        test_direct="""
from freezegun import freeze_time


def test_direct():
    with freeze_time("2030-01-07"):
        from models import Booking

        assert Booking(at="2030-01-07T10:00:00", day="2030-01-07").at.hour == 10
    # and after the freeze ends, the class built under it still validates real values
    from datetime import datetime
    assert Booking(at=datetime(2030, 1, 1), day="2030-01-02").at.year == 2030
"""
    )
    run(pytester).assert_outcomes(passed=1)


def test_freezegun_first_imported_inside_a_test_works_too(pytester: pytest.Pytester) -> None:
    late = MODELS.split("class Booking(BaseModel)")[0] + MODELS.split("day: date\n")[1]
    pytester.makepyfile(late_contracts=late.replace('"booking.made"', '"isolation.booked_late"'))
    pytester.syspathinsert()
    pytester.makepyfile(
        test_late="""
def test_late():
    import freezegun  # first imported here, after the plugin's hooks ran

    with freezegun.freeze_time("2030-01-07"):
        from late_contracts import BookingMade  # an event contract, built under freezegun

        from aura.bus import EventBus
        EventBus().publish("isolation.booked_late", {"at": "2030-01-07T10:00:00"}, "shop")
"""
    )
    run(pytester).assert_outcomes(passed=1)


def test_the_seed_defaults_are_fresh_for_every_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_defaults="""
import aura
from aura import get_container, event_bus, service_registry


class Mailer:
    pass


def failing(data):
    raise ValueError("boom")


def test_a_leaves_state_behind():
    event_bus.subscribe("probe.sent", failing, "notifications")
    event_bus.publish("probe.sent", {"id": 1}, "users")
    service_registry.register_service("notifications", "Mailer", Mailer)
    get_container().register("mailer", Mailer)
    assert len(event_bus.dead_letters()) == 1


def test_b_sees_none_of_it():
    assert event_bus.subscriptions() == []
    assert event_bus.dead_letters() == []
    assert [info.name for info in service_registry.services()] == []
    assert not get_container().is_registered("mailer")
"""
    )
    run(pytester).assert_outcomes(passed=2)


def test_contracts_declared_in_a_test_are_forgotten_after_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        late="""
from dataclasses import dataclass

from aura.events import event_contract


@event_contract("isolation.parcel_sent")
@dataclass
class ParcelSent:
    weight: int
""",
        late_manual="""
from dataclasses import dataclass

from aura.events import default_catalog, event_contract


@dataclass
class Shipped:
    weight: int


default_catalog.register(Shipped, "isolation.shipped")  # by hand, at import


def make(event_type):
    @event_contract(event_type)
    @dataclass
    class Made:
        weight: int

    return Made


Refunded = make("isolation.refunded")  # a factory, at import
""",
        test_catalog="""
from dataclasses import dataclass

import pytest

from aura.bus import EventBus
from aura.events import default_catalog, event_contract
from aura.exceptions import EventValidationError


def test_a_declares_a_contract_and_imports_a_module():
    @event_contract("isolation.order_placed")
    @dataclass
    class OrderPlaced:
        total: int

    import late  # noqa: F401  # first imported here: its contract is the module's
    import late_manual  # noqa: F401
    with pytest.raises(EventValidationError):
        EventBus().publish("isolation.order_placed", {"sku": "x"}, "orders")


def test_b_is_not_bound_by_the_first_tests_contract():
    EventBus().publish("isolation.order_placed", {"sku": "x"}, "orders")
    assert "isolation.order_placed" not in default_catalog


def test_c_keeps_the_imported_modules_contracts():
    for event_type in ("isolation.parcel_sent", "isolation.shipped", "isolation.refunded"):
        with pytest.raises(EventValidationError):
            EventBus().publish(event_type, {"weight": "heavy"}, "post")
""",
    )
    pytester.syspathinsert()
    run(pytester).assert_outcomes(passed=3)
