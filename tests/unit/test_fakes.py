"""Strict recording fakes: unconfigured calls refused, answers checked against the contract."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any, Literal, NewType, Protocol, TypedDict

import pytest
from pydantic import BaseModel

from aura import context
from aura.exceptions import (
    AuraError,
    ConfigurationError,
    ContractViolationError,
    FakeNotConfiguredError,
)
from aura.module import Module
from aura.registry import ServiceCall, ServiceRegistry
from aura.testing.fakes import FakeCall, RecordingFake, is_fake, stand_in_module
from contracts.users import UserServiceContract

PATH = "tests.unit.test_fakes"
MemberId = NewType("MemberId", int)


class Plan(enum.Enum):
    BASIC = "basic"
    GOLD = "gold"


class Address(TypedDict):
    street: str
    number: int


@dataclasses.dataclass(frozen=True)
class Member:
    id: int
    name: str


class MemberModel(BaseModel):
    id: int
    name: str


class Session(Protocol):
    def close(self) -> None: ...


class Shapes(ABC):
    """One method per kind of return annotation the fakes check."""

    @abstractmethod
    def count(self) -> int: ...
    @abstractmethod
    def ratio(self) -> float: ...
    @abstractmethod
    def maybe(self) -> int | None: ...
    @abstractmethod
    def numbers(self) -> list[int]: ...
    @abstractmethod
    def table(self) -> dict[str, Any]: ...
    @abstractmethod
    def scores(self) -> dict[str, int]: ...
    @abstractmethod
    def pair(self) -> tuple[int, str]: ...
    @abstractmethod
    def many(self) -> tuple[int, ...]: ...
    @abstractmethod
    def address(self) -> Address: ...
    @abstractmethod
    def member(self) -> Member: ...
    @abstractmethod
    def model(self) -> MemberModel: ...
    @abstractmethod
    def plan(self) -> Plan: ...
    @abstractmethod
    def state(self) -> Literal["on", "off"]: ...
    @abstractmethod
    def anything(self) -> Any: ...
    @abstractmethod
    def member_id(self) -> MemberId: ...
    @abstractmethod
    def session(self) -> Session: ...
    @abstractmethod
    def transaction(self) -> AbstractContextManager[object]: ...
    @abstractmethod
    def stream(self) -> Iterator[int]: ...
    @abstractmethod
    def when(self) -> datetime: ...
    @abstractmethod
    def kind(self) -> type[Member]: ...
    @abstractmethod
    def members(self) -> list[Member] | None: ...
    @abstractmethod
    def maybe_address(self) -> Address | None: ...
    @abstractmethod
    def maybe_session(self) -> Session | None: ...
    @abstractmethod
    def notify(self, text: str) -> None: ...
    @abstractmethod
    def legacy(self, text: str): ...  # type: ignore[no-untyped-def]  # no return annotation
    @abstractmethod
    async def fetch(self, key: str) -> int: ...
    @abstractmethod
    async def forget(self, key: str) -> None: ...


class Closing:
    def close(self) -> None:
        return None


def shapes() -> Any:
    return RecordingFake.for_contract(Shapes)


def refusal(call: Any) -> str:
    with pytest.raises(ContractViolationError) as caught:
        call()
    return str(caught.value)


# --- unconfigured methods ------------------------------------------------------------------------


def test_an_unconfigured_method_raises_naming_the_fake_the_call_the_contract_and_the_fix() -> None:
    users: Any = RecordingFake.for_contract(UserServiceContract)
    with pytest.raises(FakeNotConfiguredError) as caught:
        users.get_user_by_id(7)
    assert str(caught.value) == (
        "FakeUserServiceContract.get_user_by_id(7) was called, but the test did not say what it "
        "answers (contracts.users.UserServiceContract.get_user_by_id returns dict[str, Any] | "
        "None). Configure it: fake.returns('get_user_by_id', value) or "
        "fake.answers('get_user_by_id', function)."
    )


def test_the_unconfigured_error_is_an_aura_error_and_a_not_implemented_error() -> None:
    with pytest.raises(FakeNotConfiguredError) as caught:
        shapes().count()
    assert isinstance(caught.value, AuraError)
    assert isinstance(caught.value, NotImplementedError)


def test_an_unconfigured_call_is_still_recorded() -> None:
    users: Any = RecordingFake.for_contract(UserServiceContract)
    with pytest.raises(FakeNotConfiguredError):
        users.update_profile(7, name="Ann")
    assert users.calls == [FakeCall("update_profile", (7,), {"name": "Ann"})]


def test_the_unconfigured_error_shows_keyword_arguments_and_shortens_long_ones() -> None:
    users: Any = RecordingFake.for_contract(UserServiceContract)
    with pytest.raises(FakeNotConfiguredError) as caught:
        users.update_profile(7, name="A" * 100)
    assert str(caught.value).startswith(
        f"FakeUserServiceContract.update_profile(7, name='{'A' * 27}...{'A' * 28}') was called"
    )


def test_a_method_returning_none_needs_no_configuration() -> None:
    fake = shapes()
    assert fake.notify("hello") is None
    assert asyncio.run(fake.forget("k")) is None
    assert [call.method for call in fake.calls] == ["notify", "forget"]


def test_a_method_without_return_annotation_must_be_configured() -> None:
    with pytest.raises(FakeNotConfiguredError) as caught:
        shapes().legacy("x")
    assert str(caught.value) == (
        "FakeShapes.legacy('x') was called, but the test did not say what it answers "
        f"({PATH}.Shapes.legacy has no return annotation). Configure it: "
        "fake.returns('legacy', value) or fake.answers('legacy', function)."
    )


def test_a_method_without_return_annotation_accepts_any_configured_value() -> None:
    fake = shapes().returns("legacy", object)
    assert fake.legacy("x") is object


def test_an_unconfigured_async_method_raises_when_awaited() -> None:
    with pytest.raises(FakeNotConfiguredError) as caught:
        asyncio.run(shapes().fetch("k"))
    assert str(caught.value) == (
        "FakeShapes.fetch('k') was called, but the test did not say what it answers "
        f"({PATH}.Shapes.fetch returns int). Configure it: fake.returns('fetch', value) or "
        "fake.answers('fetch', function)."
    )


def test_a_stand_in_fake_says_where_to_get_it() -> None:
    real = Module("users")
    real.add_service("UserService", object, contract=UserServiceContract)
    fake = stand_in_module(real).services[0].provider
    with pytest.raises(FakeNotConfiguredError) as caught:
        fake.is_user_active(3)  # type: ignore[attr-defined]
    assert str(caught.value) == (
        "FakeUserServiceContract.is_user_active(3) was called, but the test did not say what it "
        "answers (contracts.users.UserServiceContract.is_user_active returns bool). Configure "
        "it: fake = container.resolve('users.UserService'), then "
        "fake.returns('is_user_active', value) or fake.answers('is_user_active', function)."
    )


def test_an_unconfigured_call_through_the_registry_is_observed_as_failed() -> None:
    fake = RecordingFake.for_contract(UserServiceContract)
    registry = ServiceRegistry()
    registry.register_service("users", "UserService", fake, contract=UserServiceContract)
    seen: list[ServiceCall] = []
    registry.add_observer(seen.append)
    with context.module_scope("billing"):
        users = registry.get_service("users", "UserService")
        with pytest.raises(FakeNotConfiguredError):
            users.is_user_active(3)
    assert [(call.method, call.outcome) for call in seen] == [
        ("is_user_active", "FakeNotConfiguredError")
    ]


# --- returns: values checked against the contract ------------------------------------------------


@pytest.mark.parametrize(
    ("method", "value"),
    [
        ("count", 3),
        ("ratio", 0.5),
        ("ratio", 2),  # int is acceptable for float, as in Python's typing
        ("maybe", None),
        ("maybe", 4),
        ("numbers", [1, 2]),
        ("table", {"a": object()}),
        ("scores", {"a": 1}),
        ("pair", (1, "a")),
        ("many", ()),
        ("many", (1, 2, 3)),
        ("address", {"street": "Main", "number": 3}),
        ("member", Member(1, "Ann")),
        ("model", MemberModel(id=1, name="Ann")),
        ("plan", Plan.GOLD),
        ("state", "on"),
        ("anything", object()),
        ("member_id", MemberId(3)),
        ("session", Closing()),
        ("transaction", nullcontext()),
        ("stream", iter([1, "not looked at"])),
        ("when", datetime(2030, 1, 7, tzinfo=UTC)),
        ("kind", Member),
        ("members", [Member(1, "Ann")]),
        ("members", None),
        ("maybe_address", {"street": "Main", "number": 3}),
        ("maybe_session", Closing()),
        ("notify", None),
    ],
)
def test_returns_accepts_a_value_of_the_contracts_type(method: str, value: Any) -> None:
    fake = shapes().returns(method, value)
    assert getattr(fake, method)(*(["x"] if method == "notify" else [])) is value


@pytest.mark.parametrize(
    ("method", "value", "annotation", "got"),
    [
        ("count", "3", "int", "'3' (str)"),
        ("ratio", "0.5", "float", "'0.5' (str)"),
        ("maybe", "4", "int | None", "'4' (str)"),
        ("numbers", (1, 2), "list[int]", "(1, 2) (tuple)"),
        ("pair", (1, 2, 3), "tuple[int, str]", "(1, 2, 3) (tuple) (it has 3 items, not 2)"),
        ("member", {"id": 1, "name": "Ann"}, "Member", "{'id': 1, 'name': 'Ann'} (dict)"),
        ("model", {"id": 1, "name": "Ann"}, "MemberModel", "{'id': 1, 'name': 'Ann'} (dict)"),
        ("plan", "gold", "Plan", "'gold' (str)"),
        ("state", "dim", "Literal['on', 'off']", "'dim' (str)"),
        ("session", object(), "Session", None),
        ("transaction", 1, "AbstractContextManager[object]", "1 (int)"),
        ("stream", [1], "Iterator[int]", "[1] (list)"),
        ("when", "2030-01-07", "datetime", "'2030-01-07' (str)"),
        ("kind", int, "type[Member]", "<class 'int'> (type)"),
        ("notify", 0, "None", "0 (int)"),
        ("maybe_session", 1, "Session | None", "1 (int)"),
    ],
)
def test_returns_refuses_a_value_of_another_type(
    method: str, value: Any, annotation: str, got: str | None
) -> None:
    if got is None:
        got = f"{value!r} (object) (it lacks close)"
    assert refusal(lambda: shapes().returns(method, value)) == (
        f"FakeShapes.returns({method!r}, value): {PATH}.Shapes.{method} returns {annotation}, "
        f"got {got}. Give a value of that type."
    )


@pytest.mark.parametrize(
    ("method", "value", "detail"),
    [
        ("numbers", [1, "2"], "[1] is '2' (str), not int"),
        ("numbers", [1, True], "[1] is True (bool), not int"),
        ("scores", {"a": 1, "b": None}, "['b'] is None (NoneType), not int"),
        ("scores", {1: 1}, "[1] (its key) is 1 (int), not str"),
        ("pair", (1, 2), "[1] is 2 (int), not str"),
        ("many", (1, "x"), "[1] is 'x' (str), not int"),
        ("address", {"street": "Main"}, "the key 'number' is missing"),
        ("address", {"street": "Main", "number": 3, "zip": 1}, "the key 'zip' is not in Address"),
        ("address", {"street": "Main", "number": "3"}, "['number'] is '3' (str), not int"),
        ("members", [{"id": 1}], "[0] is {'id': 1} (dict), not Member"),
        ("maybe_address", {"street": "Main"}, "the key 'number' is missing"),
    ],
)
def test_returns_names_where_inside_the_value_it_differs(
    method: str, value: Any, detail: str
) -> None:
    message = refusal(lambda: shapes().returns(method, value))
    assert message.endswith(f" ({type(value).__qualname__}) ({detail}). Give a value of that type.")


def test_returns_refuses_a_wrong_value_with_the_contracts_annotation_as_written() -> None:
    users = RecordingFake.for_contract(UserServiceContract)
    assert refusal(lambda: users.returns("get_user_by_id", "seven")) == (
        "FakeUserServiceContract.returns('get_user_by_id', value): "
        "contracts.users.UserServiceContract.get_user_by_id returns dict[str, Any] | None, "
        "got 'seven' (str). Give a value of that type."
    )


def test_a_refused_value_leaves_the_method_unconfigured() -> None:
    fake = shapes()
    with pytest.raises(ContractViolationError):
        fake.returns("count", "3")
    with pytest.raises(FakeNotConfiguredError):
        fake.count()


def test_an_async_method_is_checked_against_what_it_returns_when_awaited() -> None:
    fake = shapes().returns("fetch", 5)
    assert asyncio.run(fake.fetch("k")) == 5
    assert refusal(lambda: fake.returns("fetch", "5")) == (
        f"FakeShapes.returns('fetch', value): {PATH}.Shapes.fetch returns int, got '5' (str). "
        "Give a value of that type."
    )


A_MOMENT = datetime(2030, 1, 7, tzinfo=UTC)  # a real datetime: built before any freezing
BUILT_UNFROZEN = RecordingFake.for_contract(Shapes)


@pytest.mark.parametrize("built", ["unfrozen", "frozen"])
def test_datetimes_are_checked_under_frozen_time_whenever_the_fake_is_built(
    frozen_time: Any, built: str
) -> None:
    # Built while frozen, the fake's "datetime" annotation resolves to freezegun's class.
    fake: Any = BUILT_UNFROZEN if built == "unfrozen" else shapes()
    assert fake.returns("when", datetime.now(UTC)).when() == frozen_time.now()
    assert fake.returns("when", A_MOMENT).when() is A_MOMENT
    assert refusal(lambda: fake.returns("when", "now")).endswith(
        "got 'now' (str). Give a value of that type."
    )


def test_annotations_given_as_objects_are_checked_too() -> None:
    class Eager(ABC):
        @abstractmethod
        def numbers(self): ...  # type: ignore[no-untyped-def]  # annotated below, as an object

    Eager.numbers.__annotations__["return"] = list[int]
    fake = RecordingFake.for_contract(Eager)
    assert refusal(lambda: fake.returns("numbers", ["1"])) == (
        f"FakeEager.returns('numbers', value): {PATH}.{Eager.__qualname__}.numbers returns "
        "list[int], got ['1'] (list) ([0] is '1' (str), not int). Give a value of that type."
    )


def test_names_that_cannot_be_resolved_are_not_checked_but_the_rest_is() -> None:
    class Widget:
        pass

    class Local(ABC):
        @abstractmethod
        def widget(self) -> Widget | None: ...  # a local name: get_type_hints cannot see it
        @abstractmethod
        def widgets(self) -> list[Widget]: ...

    fake: Any = RecordingFake.for_contract(Local)
    assert fake.returns("widget", "anything").widget() == "anything"
    assert refusal(lambda: fake.returns("widgets", "no list")).startswith(
        f"FakeLocal.returns('widgets', value): {PATH}.{Local.__qualname__}.widgets returns "
        "list[Widget], got 'no list' (str)."
    )


# --- answers: results checked when called --------------------------------------------------------


def test_answers_computes_the_result_from_the_call() -> None:
    fake = shapes().answers("scores", lambda: {"a": 1})
    assert fake.scores() == {"a": 1}


def test_an_answer_of_the_wrong_type_is_refused_when_the_method_is_called() -> None:
    users: Any = RecordingFake.for_contract(UserServiceContract)
    users.answers("get_user_by_id", lambda user_id: [user_id])
    assert refusal(lambda: users.get_user_by_id(3)) == (
        "FakeUserServiceContract.get_user_by_id(3) answered [3] (list) from the function given "
        "to answers('get_user_by_id', ...), but contracts.users.UserServiceContract."
        "get_user_by_id returns dict[str, Any] | None. Make the function return that type."
    )
    assert users.calls_to("get_user_by_id") == [FakeCall("get_user_by_id", (3,), {})]


def test_an_answer_differing_inside_says_where() -> None:
    fake = shapes().answers("numbers", lambda: [1, None])
    assert refusal(fake.numbers).endswith(
        "returns list[int] ([1] is None (NoneType), not int). Make the function return that type."
    )


def test_an_async_function_given_to_answers_is_awaited_and_checked() -> None:
    async def fetch(key: str) -> Any:
        return len(key)

    async def wrong(key: str) -> Any:
        return key

    fake = shapes().answers("fetch", fetch)
    assert asyncio.run(fake.fetch("abc")) == 3
    fake.answers("fetch", wrong)
    assert refusal(lambda: asyncio.run(fake.fetch("abc"))) == (
        "FakeShapes.fetch('abc') answered 'abc' (str) from the function given to "
        f"answers('fetch', ...), but {PATH}.Shapes.fetch returns int. Make the function return "
        "that type."
    )


def test_answers_refuses_a_value_that_is_not_a_function() -> None:
    with pytest.raises(ConfigurationError) as caught:
        shapes().answers("count", 3)
    assert str(caught.value) == (
        "FakeShapes.answers('count', ...) takes a function of the call's arguments, got 3 (int). "
        "For a fixed value write fake.returns('count', 3)."
    )


def test_raises_makes_the_method_raise_and_records_the_call() -> None:
    fake = shapes().raises("count", LookupError("gone"))
    with pytest.raises(LookupError, match=r"^gone$"):
        fake.count()
    assert fake.calls == [FakeCall("count", (), {})]


# --- configuring ---------------------------------------------------------------------------------


def test_configuring_an_unknown_method_suggests_the_closest_one() -> None:
    users = RecordingFake.for_contract(UserServiceContract)
    with pytest.raises(AttributeError) as caught:
        users.returns("get_user", {})
    assert str(caught.value) == (
        "FakeUserServiceContract has no method 'get_user'; its contract has: register_user, "
        "get_user_by_id, get_user_profile, is_user_active, update_profile, deactivate_user. "
        "Did you mean 'get_user_by_id'?"
    )


@pytest.mark.parametrize("verb", ["returns", "answers", "raises"])
def test_every_verb_refuses_a_method_outside_the_contract(verb: str) -> None:
    with pytest.raises(AttributeError) as caught:
        getattr(shapes(), verb)("calls_to", None)
    assert str(caught.value).startswith("FakeShapes has no method 'calls_to'; its contract has: ")


def test_a_contract_whose_method_is_named_like_the_fakes_own_api_is_refused() -> None:
    class Ledger(ABC):
        @abstractmethod
        def calls(self) -> int: ...

    with pytest.raises(ConfigurationError) as caught:
        RecordingFake.for_contract(Ledger)
    assert str(caught.value) == (
        f"RecordingFake cannot fake {PATH}.{Ledger.__qualname__}: its method 'calls' has the "
        "name of a RecordingFake attribute. Write a fake class for this contract by hand."
    )


def test_a_fake_can_be_named() -> None:
    fake = RecordingFake.for_contract(UserServiceContract, name="Users")
    assert type(fake).__name__ == "Users"
    assert fake.stands_in_for is None


# --- telling fakes from real services ------------------------------------------------------------


def test_is_fake_tells_a_fake_and_its_proxy_from_a_real_service_and_its_proxy() -> None:
    class Real:
        def count(self) -> int:
            return 1

    fake = RecordingFake.for_contract(UserServiceContract)
    registry = ServiceRegistry()
    registry.register_service("users", "UserService", fake, contract=UserServiceContract)
    registry.register_service("counts", "Counter", Real())
    with context.module_scope("billing"):
        proxied_fake = registry.get_service("users", "UserService")
        proxied_real = registry.get_service("counts", "Counter")
    assert (is_fake(fake), is_fake(proxied_fake)) == (True, True)
    assert (is_fake(Real()), is_fake(proxied_real), is_fake(None)) == (False, False, False)


# --- stand-in modules ----------------------------------------------------------------------------


def test_a_stand_in_declares_what_the_module_publishes_and_nothing_else() -> None:
    real = Module("users", depends_on=["billing"])
    real.publishes("user.deactivated", "user.profile.*")
    real.add_service("UserService", object, contract=UserServiceContract)
    real.subscribe("payment.failed")(print)
    real.provide("clock", datetime.now)
    stand_in = stand_in_module(real)
    assert stand_in.name == "users"
    assert stand_in.published == ["user.deactivated", "user.profile.*"]
    assert (stand_in.depends_on, stand_in.handlers, stand_in.providers) == ((), [], [])


def test_a_stand_in_fakes_every_service_and_knows_what_it_stands_in_for() -> None:
    class Plain:
        def ping(self) -> str:
            return "pong"

    real = Module("users")
    real.add_service("UserService", object, contract=UserServiceContract)
    real.add_service("Plain", Plain)
    services = stand_in_module(real).services
    assert [(s.name, s.contract) for s in services] == [
        ("UserService", UserServiceContract),
        ("Plain", None),
    ]
    fakes = [s.provider for s in services]
    assert all(is_fake(fake) for fake in fakes)
    assert [fake.stands_in_for for fake in fakes] == [  # type: ignore[attr-defined]
        "users.UserService",
        "users.Plain",
    ]
    assert fakes[1].returns("ping", "fake pong").ping() == "fake pong"  # type: ignore[attr-defined]
