"""Service contracts: ABCs and Protocols, checked against implementations."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol

import pytest

from aura.conformance import check_conformance, contract_methods
from aura.exceptions import ContractViolationError


class UserServiceContract(ABC):
    @abstractmethod
    def get_user_by_id(self, user_id: int) -> dict[str, Any] | None:
        """Get user by ID."""

    @abstractmethod
    def is_user_active(self, user_id: int) -> bool:
        """Check if user is active."""

    def describe(self, user_id: int, *, verbose: bool = False) -> str:
        """A concrete helper is part of the contract too."""
        return str(user_id)

    def _private(self) -> int:
        """Not part of the contract."""
        return 0


class Notifier(Protocol):
    def send(self, recipient: str, body: str) -> None: ...

    async def send_later(self, recipient: str) -> None: ...


def violation(implementation: type[Any], contract: type[Any]) -> str:
    with pytest.raises(ContractViolationError) as caught:
        check_conformance(implementation, contract)
    return str(caught.value)


def test_contract_methods_are_the_public_functions_in_order() -> None:
    assert list(contract_methods(UserServiceContract)) == [
        "get_user_by_id",
        "is_user_active",
        "describe",
    ]
    assert list(contract_methods(Notifier)) == ["send", "send_later"]


def test_a_conforming_class_passes() -> None:
    class UserService(UserServiceContract):
        def get_user_by_id(self, user_id: int) -> dict[str, Any] | None:
            return None

        def is_user_active(self, user_id: int, strict: bool = False) -> bool:
            return True

    check_conformance(UserService, UserServiceContract)


def test_a_structural_implementation_of_a_protocol_passes() -> None:
    class Email:
        def send(self, recipient: str, body: str, *, cc: str = "") -> None:
            pass

        async def send_later(self, *args: Any, **kwargs: Any) -> None:
            pass

    check_conformance(Email, Notifier)


def test_every_missing_and_mismatched_method_is_named() -> None:
    class Broken:
        def get_user_by_id(self, uid: int) -> None:
            return None

        def describe(self, user_id: int) -> str:
            return ""

    assert violation(Broken, UserServiceContract) == (
        "test_every_missing_and_mismatched_method_is_named.<locals>.Broken does not implement "
        "UserServiceContract:\n"
        "  - get_user_by_id(self, uid: 'int') -> 'None' does not match the contract's "
        "get_user_by_id(self, user_id: 'int') -> 'dict[str, Any] | None': parameter 'user_id' "
        "is called 'uid'\n"
        "  - missing method is_user_active(self, user_id: 'int') -> 'bool'\n"
        "  - describe(self, user_id: 'int') -> 'str' does not match the contract's "
        "describe(self, user_id: 'int', *, verbose: 'bool' = False) -> 'str': keyword "
        "parameter 'verbose' is missing\n"
        "Implement the missing methods and align the signatures with the contract."
    )


@pytest.mark.parametrize(
    ("send", "problem"),
    [
        ("def send(self, recipient): pass", "parameter 'body' is missing"),
        (
            "def send(self, recipient, body, urgent): pass",
            "extra parameter 'urgent' has no default",
        ),
        ("async def send(self, recipient, body): pass", "the contract's method is not async"),
    ],
)
def test_signature_mismatches_are_explained(send: str, problem: str) -> None:
    namespace: dict[str, Any] = {}
    exec(f"class Email:\n    {send}\n    async def send_later(self, recipient): pass", namespace)
    message = violation(namespace["Email"], Notifier)
    assert message.splitlines()[1].endswith(f": {problem}")


def test_a_sync_method_for_an_async_contract_method_is_refused() -> None:
    class Email:
        def send(self, recipient: str, body: str) -> None:
            pass

        def send_later(self, recipient: str) -> None:
            pass

    assert violation(Email, Notifier).splitlines()[1].endswith(": the contract's method is async")


def test_a_default_in_the_contract_needs_one_in_the_implementation() -> None:
    class Contract(ABC):
        @abstractmethod
        def find(self, limit: int = 10) -> list[int]: ...

    class Impl:
        def find(self, limit: int) -> list[int]:
            return []

    assert (
        violation(Impl, Contract)
        .splitlines()[1]
        .endswith(": parameter 'limit' needs a default, as in the contract")
    )


def test_variadic_contract_parameters_need_variadic_implementations() -> None:
    class Contract(ABC):
        @abstractmethod
        def log(self, *parts: str, **fields: str) -> None: ...

    class NoStar:
        def log(self, **fields: str) -> None:
            pass

    class NoStarStar:
        def log(self, *parts: str) -> None:
            pass

    class Both:
        def log(self, *parts: str, **fields: str) -> None:
            pass

    assert violation(NoStar, Contract).splitlines()[1].endswith(": *parts is missing")
    assert violation(NoStarStar, Contract).splitlines()[1].endswith(": **fields is missing")
    check_conformance(Both, Contract)


def test_static_and_class_methods_are_compared_as_functions() -> None:
    class Contract(ABC):
        @staticmethod
        @abstractmethod
        def version() -> str: ...

    class Impl:
        @classmethod
        def version(cls) -> str:
            return "1"

    message = violation(Impl, Contract)
    assert "extra parameter 'cls' has no default" in message


def test_an_abstract_method_left_abstract_is_refused() -> None:
    class Half(UserServiceContract, ABC):
        def get_user_by_id(self, user_id: int) -> dict[str, Any] | None:
            return None

    assert "  - method is_user_active is still abstract; implement it" in violation(
        Half, UserServiceContract
    )


def test_a_non_callable_attribute_is_missing() -> None:
    class Impl:
        send = "not a method"

        async def send_later(self, recipient: str) -> None:
            pass

    assert "  - missing method send(self, recipient: 'str', body: 'str') -> 'None'" in (
        violation(Impl, Notifier)
    )


def test_a_contract_must_be_a_class() -> None:
    with pytest.raises(ContractViolationError) as caught:
        contract_methods("UserServiceContract")  # type: ignore[arg-type]
    assert str(caught.value) == (
        "A service contract must be a class (an ABC or a typing.Protocol), got str "
        "('UserServiceContract'). Pass the contract class itself."
    )
