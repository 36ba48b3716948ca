"""aura.integrations.fastapi in a team's own FastAPI app: real ASGI, and a real uvicorn server.

The app here is not Aura's gateway: it has its own routes and its own authentication dependency,
and adopts Aura through the integration's lifespan, middleware and dependencies. What the
requests publish is read from the harness's recorder (a Trace attached to the app's platform).
"""

import contextvars
import itertools
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any, Protocol

import httpx
import psycopg.conninfo
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from aura import Module, Platform
from aura.access import Principal, current_principal
from aura.bus import EventBus
from aura.context import current_module, current_user_id
from aura.events import Event
from aura.exceptions import (
    ConfigurationError,
    InvalidNameError,
    ModuleDefinitionError,
    ServiceNotAvailableError,
)
from aura.integrations.fastapi import (
    CorrelationMiddleware,
    ModuleServices,
    acting_user,
    lifespan,
    module_services,
    session_dependency,
)
from aura.integrations.sqlalchemy import SqlAlchemyDatabase, one_flow
from aura.testing import PublishedEvents, ServiceCalls, Trace

pytestmark = pytest.mark.anyio

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- the team's modules -------------------------------------------------------------------------


class UserDirectory(Protocol):
    """What other modules may ask the users module."""

    def name_of(self, user_id: int) -> str: ...


class UserService:
    """The users module's service: its contract, and one method of its own."""

    def name_of(self, user_id: int) -> str:
        return f"user-{user_id}"

    def erase(self, user_id: int) -> None:  # not part of UserDirectory
        raise AssertionError("never reachable from another module")


class AuditLog:
    """The audit module's service, which billing does not depend on."""

    def entries(self) -> list[str]:
        return []


users = Module("users")
users.add_service("UserService", UserService, contract=UserDirectory)

audit = Module("audit")
audit.add_service("AuditLog", AuditLog)

billing = Module("billing", depends_on=["users"])
billing.publishes("invoice.issued")

notifications = Module("notifications")
notifications.publishes("notification.queued")


@notifications.subscribe("invoice.issued")
def queue_notification(event: Event, bus: EventBus) -> None:
    """A handler publishing in turn: its event must carry the request's user and correlation."""
    bus.publish("notification.queued", {"invoice": event.data["invoice"]})


MODULES = [users, audit, billing, notifications]


# --- the team's app -----------------------------------------------------------------------------


class User:
    """The app's own user object, as its authentication returns it."""

    def __init__(self, id: int) -> None:
        self.id = id


def current_user_sync(authorization: str = Header()) -> User:
    """The app's own authentication, a plain function (FastAPI runs it in its thread pool)."""
    if not authorization.startswith("User "):
        raise HTTPException(401, "who are you?")
    return User(int(authorization.removeprefix("User ")))


async def current_user_async(authorization: str = Header()) -> User:
    """The same authentication, as a coroutine."""
    return current_user_sync(authorization)


AUTH = {"sync": current_user_sync, "async": current_user_async}


def build_app(
    make_platform: Callable[[], Platform], auth: Callable[..., Any] = current_user_sync
) -> FastAPI:
    """The team's app: its own routes, Aura through the integration only."""
    app = FastAPI(lifespan=lifespan(make_platform))
    app.add_middleware(CorrelationMiddleware)
    acting = acting_user(auth)

    @app.post("/sync/invoices")
    def issue_sync(
        user: Annotated[User, Depends(acting)],
        services: Annotated[ModuleServices, Depends(module_services("billing"))],
    ) -> dict[str, Any]:
        name = services.get("users", "UserService").name_of(user.id)
        event = services.publish("invoice.issued", {"invoice": 1, "to": name})
        return {"module": current_module(), "user": current_user_id(), "event": event.event_id}

    @app.post("/async/invoices")
    async def issue_async(
        user: Annotated[User, Depends(acting)],
        services: Annotated[ModuleServices, Depends(module_services("billing"))],
    ) -> dict[str, Any]:
        name = services.get("users", "UserService").name_of(user.id)
        event = await services.apublish("invoice.issued", {"invoice": 1, "to": name})
        return {"module": current_module(), "user": current_user_id(), "event": event.event_id}

    def module_seen_by_a_sync_dependency(
        services: Annotated[ModuleServices, Depends(module_services("billing"))],
    ) -> str | None:
        return current_module()

    @app.get("/seen")
    def seen(
        by_dependency: Annotated[str | None, Depends(module_seen_by_a_sync_dependency)],
    ) -> dict[str, Any]:
        return {"dependency": by_dependency, "endpoint": current_module()}

    @app.get("/erase")
    def erase(services: Annotated[ModuleServices, Depends(module_services("billing"))]) -> None:
        services.get("users", "UserService").erase(1)

    @app.get("/audit")
    def read_audit(
        services: Annotated[ModuleServices, Depends(module_services("billing"))],
    ) -> None:
        services.get("audit", "AuditLog")

    @app.get("/misspelt")
    def misspelt(services: Annotated[ModuleServices, Depends(module_services("billing"))]) -> None:
        services.get("users", "UserServce")

    @app.get("/plain")
    def plain() -> dict[str, Any]:
        return {"module": current_module(), "user": current_user_id()}

    return app


class Recorded:
    """The platform an app's lifespan built, and the harness's recorders on it."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.platforms: list[Platform] = []

    def make_platform(self, database: str | Path = ":memory:", **options: Any) -> Platform:
        platform = Platform(MODULES, database=database, **options)
        self.trace.attach(platform.bus, platform.registry)
        self.platforms.append(platform)
        return platform

    @property
    def platform(self) -> Platform:
        (platform,) = self.platforms
        return platform

    @property
    def events(self) -> PublishedEvents:
        return PublishedEvents(self.trace)

    @property
    def calls(self) -> ServiceCalls:
        return ServiceCalls(self.trace)


@pytest.fixture
def recorded(aura_trace: Trace) -> Recorded:
    return Recorded(aura_trace)


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app over real ASGI, its lifespan run around the requests."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            yield client


# --- request context into events ----------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["sync", "async"])
@pytest.mark.parametrize("auth", ["sync", "async"])
async def test_events_of_a_request_and_of_their_handlers_carry_its_user_and_correlation_id(
    recorded: Recorded, endpoint: str, auth: str
) -> None:
    app = build_app(recorded.make_platform, AUTH[auth])
    async with serving(app) as client:
        response = await client.post(
            f"/{endpoint}/invoices",
            headers={"Authorization": "User 7", "X-Correlation-ID": "checkout-42"},
        )

    assert response.status_code == 200, response.text
    assert response.headers["x-correlation-id"] == "checkout-42"
    assert response.json()["module"] == "billing"
    assert response.json()["user"] == 7
    issued, queued = recorded.events
    assert (issued.event_type, issued.source_module) == ("invoice.issued", "billing")
    assert issued.event_id == response.json()["event"]
    assert issued.data == {"invoice": 1, "to": "user-7"}
    assert dict(issued.metadata) == {
        "correlation_id": "checkout-42",
        "causation_id": None,
        "user_id": 7,
    }
    assert (queued.event_type, queued.source_module) == ("notification.queued", "notifications")
    assert dict(queued.metadata) == {
        "correlation_id": "checkout-42",
        "causation_id": issued.event_id,
        "user_id": 7,
    }


async def test_a_request_without_a_correlation_id_gets_a_new_one_on_its_events_and_response(
    recorded: Recorded,
) -> None:
    async with serving(build_app(recorded.make_platform)) as client:
        first = await client.post("/sync/invoices", headers={"Authorization": "User 3"})
        second = await client.post("/sync/invoices", headers={"Authorization": "User 3"})

    assert UUID.fullmatch(first.headers["x-correlation-id"])
    assert first.headers["x-correlation-id"] != second.headers["x-correlation-id"]
    by_request = [
        {event.metadata["correlation_id"] for event in recorded.events.flow_of(event)}
        for event in recorded.events.of_type("invoice.issued")
    ]
    assert by_request == [
        {first.headers["x-correlation-id"]},
        {second.headers["x-correlation-id"]},
    ]


async def test_an_invalid_correlation_id_is_refused_with_400_as_the_gateway_refuses_it(
    recorded: Recorded,
) -> None:
    async with serving(build_app(recorded.make_platform)) as client:
        response = await client.post(
            "/sync/invoices", headers={"Authorization": "User 7", "X-Correlation-ID": "a b\tc"}
        )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    fresh = response.headers["x-correlation-id"]
    assert UUID.fullmatch(fresh)
    assert response.json() == {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": "Invalid X-Correlation-ID 'a b\\tc': expected 1 to 128 letters, digits or "
        ". _ : - (starting with a letter or digit). Send a UUID, or leave the header out to "
        "get a new id.",
        "instance": "/sync/invoices",
        "correlation_id": fresh,
    }
    assert list(recorded.events) == []  # the endpoint never ran


def test_the_correlation_id_rule_and_refusal_are_the_gateways() -> None:
    from aura import context
    from aura.integrations import fastapi as integration
    from aura.web import middleware as gateway

    # one rule, in aura.context, for the gateway and this integration
    assert integration.is_valid_correlation_id is gateway.is_valid_correlation_id
    assert integration.invalid_correlation_id is gateway.invalid_correlation_id
    assert integration.CORRELATION_HEADER == gateway.CORRELATION_HEADER == "X-Correlation-ID"
    accepted = ("a", "0af7651916cd43dd8448eb211c80319c", "ulid:01H.x_y-z", "x" * 128)
    assert [context.is_valid_correlation_id(given) for given in accepted] == [True] * 4
    refused = ("", "a b", "-leading-dash", "x" * 129, "a\r\nSet-Cookie: x", "é")
    assert [context.is_valid_correlation_id(given) for given in refused] == [False] * 6
    assert context.invalid_correlation_id("x" * 61 + " ") == (
        f"Invalid X-Correlation-ID {'x' * 57 + '...'!r}: expected 1 to 128 letters, digits or "
        ". _ : - (starting with a letter or digit). Send a UUID, or leave the header out to get "
        "a new id."
    )


async def test_a_request_acting_for_nobody_publishes_events_without_a_user(
    recorded: Recorded,
) -> None:
    def anonymous() -> None:
        return None

    app = build_app(recorded.make_platform)

    @app.post("/anonymous")
    def publish_anonymously(
        user: Annotated[None, Depends(acting_user(anonymous))],
        services: Annotated[ModuleServices, Depends(module_services("billing"))],
    ) -> None:
        services.publish("invoice.issued", {"invoice": 2})

    async with serving(app) as client:
        response = await client.post("/anonymous")

    assert response.status_code == 200, response.text
    assert [event.metadata["user_id"] for event in recorded.events] == [None, None]


async def test_a_principal_from_the_app_is_put_in_force_as_the_gateway_does(
    recorded: Recorded,
) -> None:
    doctor = Principal("dr-who", frozenset({"therapist"}), user_id=12)

    def authenticate() -> Principal:
        return doctor

    app = build_app(recorded.make_platform)

    @app.post("/as-principal")
    async def as_principal(
        principal: Annotated[Principal, Depends(acting_user(authenticate))],
        services: Annotated[ModuleServices, Depends(module_services("billing"))],
    ) -> dict[str, Any]:
        await services.apublish("invoice.issued", {"invoice": 3})
        seen = current_principal()
        return {"same": seen is principal, "subject": seen.subject if seen else None}

    async with serving(app) as client:
        response = await client.post("/as-principal")

    assert response.json() == {"same": True, "subject": "dr-who"}
    assert [event.metadata["user_id"] for event in recorded.events] == [12, 12]


async def test_user_id_says_where_the_id_of_the_apps_user_is(recorded: Recorded) -> None:
    class Account:
        def __init__(self, pk: str) -> None:
            self.pk = pk

    def account() -> Account:
        return Account("acc-9")

    app = build_app(recorded.make_platform)

    @app.post("/account")
    def by_account(
        user: Annotated[Account, Depends(acting_user(account, user_id=lambda user: user.pk))],
        services: Annotated[ModuleServices, Depends(module_services("billing"))],
    ) -> None:
        services.publish("invoice.issued", {"invoice": 4})

    async with serving(app) as client:
        await client.post("/account")

    assert [event.metadata["user_id"] for event in recorded.events] == ["acc-9", "acc-9"]


async def test_a_user_whose_id_cannot_be_told_is_refused_naming_the_fix(
    recorded: Recorded,
) -> None:
    class Account:
        pk = 5

    def account() -> Account:
        return Account()

    app = build_app(recorded.make_platform)

    @app.post("/opaque")
    def opaque(user: Annotated[Account, Depends(acting_user(account))]) -> None:
        raise AssertionError("not reached")

    async with serving(app) as client:
        with pytest.raises(ConfigurationError) as refused:
            await client.post("/opaque")

    assert str(refused.value) == (
        "acting_user(test_a_user_whose_id_cannot_be_told_is_refused_naming_the_fix.<locals>."
        "account) cannot tell the id of the Account it returned: it is not an int or a str and "
        "has no int or str attribute 'user_id' or 'id'. Pass acting_user(test_a_user_whose_id_"
        "cannot_be_told_is_refused_naming_the_fix.<locals>.account, user_id=lambda user: ...) "
        "returning its id."
    )
    assert list(recorded.events) == []


def test_acting_user_refuses_what_is_not_a_dependency() -> None:
    with pytest.raises(ConfigurationError) as refused:
        acting_user("get_current_user")  # type: ignore[arg-type]

    assert str(refused.value) == (
        "acting_user() takes the app's authentication dependency (a function FastAPI calls, "
        "such as get_current_user), got str ('get_current_user')."
    )


async def test_the_users_id_is_set_only_for_the_requests_that_act_for_them(
    recorded: Recorded,
) -> None:
    async with serving(build_app(recorded.make_platform)) as client:
        await client.post("/sync/invoices", headers={"Authorization": "User 7"})
        after = await client.get("/plain")

    assert after.json() == {"module": None, "user": None}


# --- a route acting as a module -----------------------------------------------------------------


async def test_the_route_runs_as_its_module_in_sync_dependencies_and_endpoints(
    recorded: Recorded,
) -> None:
    async with serving(build_app(recorded.make_platform)) as client:
        response = await client.get("/seen")

    assert response.json() == {"dependency": "billing", "endpoint": "billing"}


async def test_calls_from_a_route_are_recorded_as_its_modules(recorded: Recorded) -> None:
    async with serving(build_app(recorded.make_platform)) as client:
        await client.post("/sync/invoices", headers={"Authorization": "User 7"})

    (call,) = recorded.calls
    assert (call.caller_module, call.provider_module, call.service_name, call.method) == (
        "billing",
        "users",
        "UserService",
        "name_of",
    )


async def test_another_modules_service_offers_only_its_contract(recorded: Recorded) -> None:
    async with serving(build_app(recorded.make_platform)) as client:
        with pytest.raises(AttributeError) as refused:
            await client.get("/erase")

    assert str(refused.value) == (
        "'erase' is not part of UserDirectory; module 'billing' can use only: name_of. Add it "
        "to UserDirectory, or call it from module 'users' itself."
    )


async def test_a_module_not_declared_in_depends_on_is_refused(recorded: Recorded) -> None:
    async with serving(build_app(recorded.make_platform)) as client:
        with pytest.raises(ServiceNotAvailableError) as refused:
            await client.get("/audit")

    assert str(refused.value) == (
        "Module 'billing' asked for audit.AuditLog, but does not declare 'audit' in depends_on "
        "(it declares: users). Add 'audit' to depends_on of module 'billing', or react to "
        "audit's events instead of calling it."
    )
    assert list(recorded.calls) == []


async def test_an_unknown_service_is_refused_with_the_registrys_message(
    recorded: Recorded,
) -> None:
    async with serving(build_app(recorded.make_platform)) as client:
        with pytest.raises(ServiceNotAvailableError) as refused:
            await client.get("/misspelt")

    assert str(refused.value) == (
        "No service 'UserServce' in module 'users'. Registered there: UserService. Did you "
        "mean 'UserService'?"
    )


def test_module_services_refuses_an_invalid_module_name_at_once() -> None:
    with pytest.raises(InvalidNameError) as refused:
        module_services("Billing")

    assert str(refused.value).startswith("Invalid module name 'Billing': expected ")


# --- the lifespan -------------------------------------------------------------------------------


async def test_the_lifespan_starts_the_platform_serves_it_and_closes_it_at_shutdown(
    recorded: Recorded,
) -> None:
    app = build_app(recorded.make_platform)
    assert recorded.platforms == []  # building the app builds no platform

    async with app.router.lifespan_context(app):
        platform = recorded.platform
        assert app.state.aura is platform
        assert platform.started
        assert not platform.closed

    assert platform.closed
    assert not hasattr(app.state, "aura")


async def test_a_platform_given_as_an_instance_is_started_and_closed(aura_trace: Trace) -> None:
    platform = Platform(MODULES)
    app = FastAPI(lifespan=lifespan(platform))

    async with app.router.lifespan_context(app):
        assert platform.started

    assert platform.closed


async def test_the_apps_own_lifespan_runs_inside_with_the_platform_started(
    recorded: Recorded,
) -> None:
    seen: list[tuple[str, bool]] = []

    @asynccontextmanager
    async def own(app: FastAPI) -> AsyncIterator[dict[str, str]]:
        seen.append(("startup", app.state.aura.started))
        yield {"greeting": "hello"}
        seen.append(("shutdown", app.state.aura.closed))

    app = FastAPI(lifespan=lifespan(recorded.make_platform, app_lifespan=own))

    async with app.router.lifespan_context(app) as state:
        assert state == {"greeting": "hello"}

    assert seen == [("startup", True), ("shutdown", False)]
    assert recorded.platform.closed


async def test_the_platform_is_closed_when_the_apps_own_startup_fails(
    recorded: Recorded,
) -> None:
    @asynccontextmanager
    async def failing(app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("no cache today")
        yield

    app = FastAPI(lifespan=lifespan(recorded.make_platform, app_lifespan=failing))

    with pytest.raises(RuntimeError, match="no cache today"):
        async with app.router.lifespan_context(app):
            raise AssertionError("not reached")

    assert recorded.platform.closed


@pytest.mark.parametrize(
    ("routers", "label"),
    [((), "/charges"), (("/orders", "/{order_id}"), "/api/orders/{order_id}/charges")],
    ids=["on the app", "in nested routers"],
)
async def test_startup_refuses_a_route_naming_a_module_the_platform_lacks(
    recorded: Recorded, routers: tuple[str, ...], label: str
) -> None:
    # FastAPI >= 0.165 keeps an included router as one entry of app.routes: its routes are
    # checked all the same, with the prefixes of every include.
    app = build_app(recorded.make_platform)
    chain = [APIRouter(prefix=prefix) for prefix in routers]
    target: FastAPI | APIRouter = chain[-1] if chain else app

    @target.get("/charges")
    def charges(services: Annotated[ModuleServices, Depends(module_services("biling"))]) -> None:
        raise AssertionError("not reached")

    for outer, inner in itertools.pairwise(chain):
        outer.include_router(inner)
    if chain:
        app.include_router(chain[0], prefix="/api")

    with pytest.raises(ModuleDefinitionError) as refused:
        async with app.router.lifespan_context(app):
            raise AssertionError("not reached")

    assert str(refused.value) == (
        f"Route GET {label} uses module_services('biling'), but the platform has no module "
        "'biling' (its modules: users, audit, billing, notifications). Did you mean 'billing'? "
        "Fix the name, or add the module to the platform."
    )
    assert recorded.platform.closed
    assert not recorded.platform.started


async def test_startup_refuses_a_route_acting_as_two_modules(recorded: Recorded) -> None:
    app = FastAPI(lifespan=lifespan(recorded.make_platform))

    def as_users(services: Annotated[ModuleServices, Depends(module_services("users"))]) -> None:
        return None

    @app.get("/both")
    def both(
        billing: Annotated[ModuleServices, Depends(module_services("billing"))],
        _: Annotated[None, Depends(as_users)],
    ) -> None:
        raise AssertionError("not reached")

    with pytest.raises(ModuleDefinitionError) as refused:
        async with app.router.lifespan_context(app):
            raise AssertionError("not reached")

    assert str(refused.value) == (
        "Route GET /both uses the services of several modules ('billing', 'users'); a route "
        "acts as one module. Call the others through module_services('billing').get(...), or "
        "react to their events."
    )


def test_lifespan_refuses_what_is_not_a_platform() -> None:
    with pytest.raises(ConfigurationError) as refused:
        lifespan("sqlite:///shop.db")  # type: ignore[arg-type]

    assert str(refused.value) == (
        "lifespan() takes a Platform or a function that builds one, got str "
        "('sqlite:///shop.db'). Write FastAPI(lifespan=lifespan(make_platform))."
    )


async def test_a_factory_returning_something_else_fails_the_startup() -> None:
    def make_platform() -> Any:
        return MODULES

    app = FastAPI(lifespan=lifespan(make_platform))

    with pytest.raises(ConfigurationError) as refused:
        async with app.router.lifespan_context(app):
            raise AssertionError("not reached")

    assert str(refused.value).startswith(
        "The platform factory test_a_factory_returning_something_else_fails_the_startup."
        "<locals>.make_platform returned list ("
    )
    assert str(refused.value).endswith(
        "), not a Platform. Make it return Platform(modules=[...], ...)."
    )


async def test_a_route_of_an_app_without_the_lifespan_says_how_to_give_it_a_platform() -> None:
    app = FastAPI()

    @app.get("/orphan")
    def orphan(services: Annotated[ModuleServices, Depends(module_services("billing"))]) -> None:
        raise AssertionError("not reached")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        with pytest.raises(ConfigurationError) as refused:
            await client.get("/orphan")

    assert str(refused.value) == (
        "This application has no Aura platform: app.state.aura is not set. Build it with "
        "FastAPI(lifespan=aura.integrations.fastapi.lifespan(make_platform)), or set "
        "app.state.aura = platform before it serves."
    )


async def test_a_platform_set_by_hand_serves_and_platform_of_finds_it(
    recorded: Recorded,
) -> None:
    platform = recorded.make_platform()
    app = FastAPI()
    app.state.aura = platform

    @app.get("/which")
    def which(services: Annotated[ModuleServices, Depends(module_services("billing"))]) -> bool:
        return services.platform is platform

    with platform:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            response = await client.get("/which")

    assert response.json() is True


# --- durable events, on a real SQLite file, over a real uvicorn server ----------------------------


@contextmanager
def on_uvicorn(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` on a real uvicorn server (lifespan on) on a free port; yield its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:  # uvicorn offers a flag, no event to wait on
            assert thread.is_alive(), "uvicorn stopped while starting"
            time.sleep(0.005)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_over_uvicorn_a_durable_platform_stores_the_requests_user_and_correlation(
    recorded: Recorded, tmp_path: Path
) -> None:
    database = tmp_path / "shop.db"
    app = build_app(lambda: recorded.make_platform(database, durable=True, poll_interval=None))

    with on_uvicorn(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        response = client.post(
            "/sync/invoices", headers={"Authorization": "User 8", "X-Correlation-ID": "real-1"}
        )
        platform = recorded.platform
        assert platform.started

    assert response.status_code == 200, response.text
    assert response.headers["x-correlation-id"] == "real-1"
    assert platform.closed  # uvicorn's shutdown ran the lifespan's end
    with Platform(MODULES, database=database, durable=True, poll_interval=None) as reopened:
        assert reopened.event_store is not None
        stored = [
            (event.event_type, event.metadata["user_id"], event.metadata["correlation_id"])
            for event in reopened.event_store.read()
        ]
    assert stored == [
        ("invoice.issued", 8, "real-1"),
        ("notification.queued", 8, "real-1"),
    ]


# --- the request's SQLAlchemy transaction, with the outbox on the app's engine -------------------

PLACED = "fx_tx.order.placed"


class TxBase(DeclarativeBase):
    pass


class TxOrder(TxBase):
    __tablename__ = "fx_tx_orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    item: Mapped[str]


class TxShipment(TxBase):
    __tablename__ = "fx_tx_shipments"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int]


@pytest.fixture(params=["sqlite", "postgresql"])
def tx_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        url = sa.make_url(f"sqlite:///{tmp_path / 'app.db'}")
    else:
        parts = psycopg.conninfo.conninfo_to_dict(request.getfixturevalue("fresh_postgres_dsn"))
        url = sa.URL.create(
            "postgresql+psycopg",
            username=parts.get("user"),
            password=parts.get("password"),
            host=parts.get("host"),
            port=int(parts["port"]) if parts.get("port") else None,
            database=parts.get("dbname"),
        )
    engine = sa.create_engine(url)
    TxBase.metadata.create_all(engine)
    yield engine
    engine.dispose()


class TxShop:
    """An app whose routes write an order and publish in one request; shipping ships it."""

    def __init__(self, engine: sa.Engine, get_session: Callable[..., Any]) -> None:
        self.engine = engine
        self.outbox = SqlAlchemyDatabase(engine, require_transaction=True)
        orders = Module("orders")
        orders.publishes(PLACED)
        shipping = Module("shipping")

        @shipping.subscribe(PLACED, name="ship")
        def ship(data: dict[str, Any]) -> None:
            self.outbox.session().add(TxShipment(order_id=data["order_id"]))

        self.platform = Platform(
            [orders, shipping], database=self.outbox, durable=True, poll_interval=None
        )
        self.app = app = FastAPI(lifespan=lifespan(self.platform))
        bus = self.platform.bus

        def place(session: Session, order_id: int, fail: str | None) -> dict[str, int]:
            session.add(TxOrder(id=order_id, item="book"))
            session.flush()
            bus.publish(PLACED, {"order_id": order_id}, "orders")
            if fail == "http":
                raise HTTPException(409, "out of stock")
            if fail == "crash":
                raise RuntimeError("the route failed after publishing")
            if fail == "commit":  # the database refuses the commit, after the endpoint returned

                def refuse(_: Session) -> None:
                    raise sa.exc.OperationalError("COMMIT", {}, RuntimeError("disk full"))

                sa.event.listen(session, "before_commit", refuse, once=True)
            return {"order_id": order_id}

        self.place = place

        @app.post("/sync/orders/{order_id}")
        def place_sync(
            order_id: int,
            session: Annotated[Session, Depends(get_session, scope="function")],
            fail: str = "",
        ) -> dict[str, int]:
            return place(session, order_id, fail or None)

        @app.post("/async/orders/{order_id}")
        async def place_async(
            order_id: int,
            session: Annotated[Session, Depends(get_session, scope="function")],
            fail: str = "",
        ) -> dict[str, int]:
            return place(session, order_id, fail or None)

    def count(self, table: str) -> int:
        with self.engine.connect() as connection:
            return int(connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())

    def written(self) -> tuple[int, int, int]:
        """(orders, events, shipments) committed."""
        return self.count("fx_tx_orders"), self.count("aura_events"), self.count("fx_tx_shipments")


@asynccontextmanager
async def tx_serving(shop: TxShop) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=shop.app, raise_app_exceptions=False)
    async with (
        shop.app.router.lifespan_context(shop.app),
        httpx.AsyncClient(transport=transport, base_url="http://shop") as client,
    ):
        yield client


@pytest.mark.parametrize("endpoint", ["sync", "async"])
async def test_an_event_commits_with_the_requests_writes_through_session_dependency(
    tx_engine: sa.Engine, endpoint: str
) -> None:
    shop = TxShop(tx_engine, session_dependency(sessionmaker(tx_engine)))
    async with tx_serving(shop) as client:
        response = await client.post(f"/{endpoint}/orders/7")

    assert response.status_code == 200, response.text
    # the order, its event, and the shipment its handler wrote after the commit
    assert shop.written() == (1, 1, 1)


@pytest.mark.parametrize(
    ("fail", "status", "written"), [("", 200, (1, 1, 1)), ("http", 409, (0, 0, 0))]
)
@pytest.mark.parametrize("dependency", ["def", "async def"])
@pytest.mark.parametrize("endpoint", ["sync", "async"])
async def test_a_dependency_using_the_requests_session_first_is_in_its_transaction(
    tx_engine: sa.Engine,
    endpoint: str,
    dependency: str,
    fail: str,
    status: int,
    written: tuple[int, int, int],
) -> None:
    # The usual "current user" dependency: it reads through the request's session before the
    # endpoint writes and publishes. FastAPI runs a def one in a thread-pool thread of its own.
    get_session = session_dependency(sessionmaker(tx_engine))
    shop = TxShop(tx_engine, get_session)

    def read_user(session: Session) -> int:
        session.execute(sa.text("SELECT count(*) FROM fx_tx_orders")).scalar_one()
        return 1

    def current_user(session: Annotated[Session, Depends(get_session, scope="function")]) -> int:
        return read_user(session)

    async def current_user_async(
        session: Annotated[Session, Depends(get_session, scope="function")],
    ) -> int:
        return read_user(session)

    user = current_user if dependency == "def" else current_user_async

    @shop.app.post("/sync/users/orders/{order_id}")
    def place_sync(
        order_id: int,
        session: Annotated[Session, Depends(get_session, scope="function")],
        _: Annotated[int, Depends(user)],
        fail: str = "",
    ) -> dict[str, int]:
        return shop.place(session, order_id, fail or None)

    @shop.app.post("/async/users/orders/{order_id}")
    async def place_async(
        order_id: int,
        session: Annotated[Session, Depends(get_session, scope="function")],
        _: Annotated[int, Depends(user)],
        fail: str = "",
    ) -> dict[str, int]:
        return shop.place(session, order_id, fail or None)

    async with tx_serving(shop) as client:
        response = await client.post(f"/{endpoint}/users/orders/7", params={"fail": fail})

    assert response.status_code == status, response.text
    # all of the request (order, event, the shipment its delivery wrote), or none of it
    assert shop.written() == written


def test_in_a_flow_a_thread_with_a_session_of_its_own_keeps_its_events_in_it(
    tx_engine: sa.Engine,
) -> None:
    # A request's worker thread opens its own session while another thread of the request holds
    # a transaction of a third session: its event is written in its own transaction, committed
    # with it, whatever the other rolls back. Only the flow's session is shared.
    shop = TxShop(tx_engine, session_dependency(sessionmaker(tx_engine)))
    bus = shop.platform.bus
    began, published = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def own_session() -> None:
        try:
            with Session(tx_engine) as session, session.begin():
                session.add(TxOrder(id=1, item="book"))
                session.flush()
                began.wait(5)
                bus.publish(PLACED, {"order_id": 1}, "orders")
        except BaseException as error:
            errors.append(error)
        finally:
            published.set()

    def other_session() -> None:
        with Session(tx_engine) as session:
            session.begin()
            session.execute(sa.text("SELECT count(*) FROM fx_tx_orders"))
            began.set()
            published.wait(5)
            session.rollback()

    shop.platform.start()
    try:
        with one_flow(Session(tx_engine)):
            threads = [
                threading.Thread(target=contextvars.copy_context().run, args=(job,))
                for job in (own_session, other_session)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(10)
    finally:
        shop.platform.close()
    assert errors == []
    assert shop.written()[:2] == (1, 1)  # the order and its event, together


@pytest.mark.parametrize(("fail", "status"), [("http", 409), ("crash", 500), ("commit", 500)])
@pytest.mark.parametrize("endpoint", ["sync", "async"])
async def test_a_request_that_fails_writes_neither_its_rows_nor_its_event(
    tx_engine: sa.Engine, endpoint: str, fail: str, status: int
) -> None:
    shop = TxShop(tx_engine, session_dependency(sessionmaker(tx_engine)))
    async with tx_serving(shop) as client:
        failed = await client.post(f"/{endpoint}/orders/7", params={"fail": fail})
        after = await client.post(f"/{endpoint}/orders/8")

    assert failed.status_code == status, failed.text
    assert after.status_code == 200, after.text
    # only the second request's order, event and shipment: nothing of the failed one
    assert shop.written() == (1, 1, 1)
    with tx_engine.connect() as connection:
        shipped = connection.exec_driver_sql("SELECT order_id FROM fx_tx_shipments").scalars()
        assert list(shipped) == [8]


async def test_a_session_dependency_ended_after_the_response_is_refused_at_startup(
    tx_engine: sa.Engine,
) -> None:
    get_session = session_dependency(sessionmaker(tx_engine))
    app = FastAPI(lifespan=lifespan(Platform([], poll_interval=None)))

    def placeholder() -> Session:
        raise NotImplementedError  # served by the override

    @app.post("/orders")
    def place(session: Annotated[Session, Depends(placeholder)]) -> None:
        pass

    app.dependency_overrides[placeholder] = get_session  # the pattern of the examples
    with pytest.raises(ConfigurationError) as refused:
        async with app.router.lifespan_context(app):
            pass
    assert str(refused.value) == (
        "Route POST /orders takes a session_dependency() through Depends("
        + placeholder.__qualname__
        + ") (scope 'request'): FastAPI would end it, and so commit, after the response is "
        "sent, and a commit that fails would have been answered as a success. Write "
        "Depends(" + placeholder.__qualname__ + ', scope="function").'
    )


async def test_a_router_route_whose_session_ends_after_the_response_is_refused_at_startup(
    tx_engine: sa.Engine,
) -> None:
    get_session = session_dependency(sessionmaker(tx_engine))
    app = FastAPI(lifespan=lifespan(Platform([], poll_interval=None)))
    router = APIRouter(prefix="/orders", dependencies=[Depends(get_session)])

    @router.post("")
    def place() -> None:
        pass

    app.include_router(router)
    with pytest.raises(ConfigurationError) as refused:
        async with app.router.lifespan_context(app):
            pass
    assert str(refused.value).startswith(
        "Route POST /orders takes a session_dependency() through Depends("
    )
    assert str(refused.value).endswith(', scope="function").')


@pytest.mark.parametrize("endpoint", ["sync", "async"])
async def test_a_session_begun_in_a_plain_generator_dependency_is_not_one_events_join(
    tx_engine: sa.Engine, endpoint: str
) -> None:
    # The pattern session_dependency replaces: FastAPI begins this transaction in a thread-pool
    # thread, and Aura joins only the transaction of the publishing thread or task.
    def get_session() -> Iterator[Session]:
        with Session(tx_engine) as session, session.begin():
            yield session

    shop = TxShop(tx_engine, get_session)
    async with tx_serving(shop) as client:
        response = await client.post(f"/{endpoint}/orders/7")

    assert response.status_code == 500
    assert shop.written() == (0, 0, 0)  # refused (require_transaction), not committed alone


def test_session_dependency_refuses_what_makes_no_session() -> None:
    with pytest.raises(ConfigurationError) as refused:
        session_dependency("sqlite:///shop.db")  # type: ignore[arg-type]
    assert str(refused.value) == (
        "session_dependency() takes a function making a Session (a sessionmaker), got str "
        "('sqlite:///shop.db'). Write session_dependency(sessionmaker(engine))."
    )


def test_get_service_is_get_under_the_name_aura_checks_source_scan_reads() -> None:
    platform = Platform(MODULES)
    billing_services = ModuleServices(platform, "billing")
    with platform:
        assert billing_services.get_service("users", "UserService").name_of(3) == "user-3"
        with pytest.raises(ServiceNotAvailableError) as refused:
            billing_services.get_service("audit", "AuditLog")
    assert str(refused.value).startswith(
        "Module 'billing' asked for audit.AuditLog, but does not declare 'audit' in depends_on"
    )
