"""The service registry: modules offer services under contracts and call each other through them.

Its length (~940 lines) is the registry with its cross-module proxies, which are built from
its entries and report to its observers, and the small pool of daemon threads that runs each
service's timed calls.

``register_service`` checks a service against its contract and hands its construction to the
container, so constructor dependencies are injected; the service is built lazily, once per
registry. ``get_service`` from outside the providing module returns a proxy that exposes only the
contract's methods, runs each call as the provider module, reports it to observers and applies the
service's call policy (circuit breaker, timeout). Proxies are built once per caller and service.

A timeout cancels an ``async`` method's call. A sync method cannot be interrupted in Python, so
its timed calls run on worker threads, and one that times out goes on running there: its error
says so. Each service has its own few workers (``CallPolicy.max_workers``), so calls that hang
in one service never hold up another's; once every worker of a service is held by a call that
timed out, its next calls are refused at once. The workers are daemon threads: neither
``close()`` nor the end of the process waits for a call that hangs.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import dataclasses
import difflib
import functools
import inspect
import re
import threading
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any, Protocol

from aura import context as _context
from aura import hooks
from aura.clock import real_perf_counter
from aura.conformance import check_conformance, contract_methods
from aura.container import Container, Key, Override
from aura.exceptions import (
    ConfigurationError,
    DuplicateServiceError,
    InvalidNameError,
    ServiceBusyError,
    ServiceNotAvailableError,
    ServiceTimeoutError,
)
from aura.hooks import Interceptor, Start, compose, end, split
from aura.naming import check_module_name

__all__ = [
    "CallPolicy",
    "CallableBreaker",
    "ServiceCall",
    "ServiceInfo",
    "ServiceProxy",
    "ServiceRegistry",
]

_current_module = _context._current_module.get
_SERVICE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class CallableBreaker(Protocol):
    """What a call policy needs of a circuit breaker (``aura.breaker.CircuitBreaker`` fits)."""

    def call(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run ``func`` through the breaker."""

    async def acall(self, func: Callable[..., Awaitable[Any]], /, *args: Any, **kwargs: Any) -> Any:
        """Await ``func`` through the breaker."""


@dataclasses.dataclass(frozen=True, slots=True)
class CallPolicy:
    """How cross-module calls to one service are guarded: a circuit breaker and a timeout.

    ``timeout`` (seconds) cancels a call to an ``async`` method. A call to a sync method runs on
    one of the service's ``max_workers`` worker threads and the caller stops waiting at the
    timeout, but the call cannot be stopped: it runs on, and what it does may still take effect.
    While all of them run calls that timed out, further calls are refused at once.
    """

    breaker: CallableBreaker | None = None
    timeout: float | None = None
    max_workers: int = 4
    """How many worker threads the service's timed sync calls may use at once."""

    def __post_init__(self) -> None:
        if (
            isinstance(self.max_workers, bool)
            or not isinstance(self.max_workers, int)
            or self.max_workers < 1
        ):
            raise ConfigurationError(
                f"A service's max_workers must be a whole number of threads, at least 1, got "
                f"{self.max_workers!r}. Pass e.g. CallPolicy(timeout=2.0, max_workers=4)."
            )
        if self.timeout is not None and (
            isinstance(self.timeout, bool)
            or not isinstance(self.timeout, int | float)
            or not self.timeout > 0
        ):
            raise ConfigurationError(
                f"A service call timeout must be a positive number of seconds, got "
                f"{self.timeout!r}. Pass timeout=2.0, or None for no timeout."
            )
        if self.breaker is not None and not callable(getattr(self.breaker, "call", None)):
            raise ConfigurationError(
                f"A service's breaker must have a call(func, *args) method, got "
                f"{type(self.breaker).__name__}. Pass an aura.breaker.CircuitBreaker."
            )


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceCall:
    """One cross-module service call, as observers see it."""

    caller_module: str | None
    """The calling module, or ``None`` for code outside any module (a script, a test)."""
    provider_module: str
    service_name: str
    method: str
    started_at: datetime
    duration: float
    error: BaseException | None
    correlation_id: str | None

    @property
    def outcome(self) -> str:
        """``"ok"``, or the name of the exception the call raised."""
        return "ok" if self.error is None else type(self.error).__name__

    @property
    def succeeded(self) -> bool:
        """Whether the call returned without raising."""
        return self.error is None


ServiceCallObserver = Callable[[ServiceCall], None]


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceInfo:
    """What the registry knows of one service (for discovery, docs and health)."""

    module_name: str
    service_name: str
    provider: object
    contract: type[Any] | None
    policy: CallPolicy | None
    methods: tuple[str, ...]
    built: bool


@dataclasses.dataclass(slots=True)
class _Entry:
    module_name: str
    service_name: str
    key: str
    provider: object
    contract: type[Any] | None
    policy: CallPolicy | None
    built: bool = False
    proxies: weakref.WeakSet[ServiceProxy] = dataclasses.field(default_factory=weakref.WeakSet)
    """Every live handle to the service, so an override can retarget them."""
    replaced: list[tuple[object, object]] = dataclasses.field(default_factory=list)
    """The overrides in force, oldest first, as (token, replacement)."""
    original: tuple[object, bool] | None = None
    """The provider (and whether it was built) before the first override in force."""
    pool: _CallPool | None = None
    """The worker threads of its timed sync calls, started at the first one."""


class ServiceProxy:
    """A service as a caller sees it: the methods it may use, observed and guarded.

    A caller from another module gets the contract's methods; code outside any module (a test,
    a script) acts as the service's owner and gets every public method. Anything else raises
    ``AttributeError`` naming the caller and what it may use.
    """

    __slots__ = (
        "__dict__",
        "__weakref__",
        "_aura_caller",
        "_aura_exposed",
        "_aura_fix",
        "_aura_label",
        "_aura_target",
    )

    def __init__(
        self,
        target: object,
        label: str,
        exposed: tuple[str, ...],
        caller: str | None = None,
        fix: str = "",
    ) -> None:
        self._aura_target = target
        self._aura_label = label
        self._aura_exposed = exposed
        self._aura_caller = caller
        self._aura_fix = fix

    def __getattr__(self, name: str) -> Any:
        if name in self._aura_exposed:
            raise AttributeError(
                f"{name!r} is part of {self._aura_label}, but the object serving it "
                f"({type(self._aura_target).__name__}) does not implement it. Give the stand-in "
                f"a {name}() method."
            )
        offered = ", ".join(self._aura_exposed) or "nothing"
        if self._aura_caller is None:
            raise AttributeError(
                f"{name!r} is not a public method of {self._aura_label} "
                f"({type(self._aura_target).__name__}); code outside any module (a test, a "
                f"script) can use: {offered}."
            )
        raise AttributeError(
            f"{name!r} is not part of {self._aura_label}; module {self._aura_caller!r} can use "
            f"only: {offered}.{self._aura_fix}"
        )

    def __repr__(self) -> str:
        return f"<ServiceProxy {self._aura_label} -> {self._aura_target!r}>"


class ServiceRegistry:
    """Service discovery and direct calls between modules (the seed's ``service_registry``)."""

    def __init__(
        self,
        *,
        container: Container | None = None,
        inline_when: Callable[[], bool] | None = None,
    ) -> None:
        """``inline_when`` tells when a timed call must run on the caller's thread (inside a
        database transaction, say); its timeout is then checked once it returns."""
        self.container = container if container is not None else Container()
        self.container.on_rewired(self._rewired)
        self._inline_when = inline_when
        self._entries: dict[tuple[str, str], _Entry] = {}
        # caller -> module -> service -> handle: three lookups, no key built per call.
        # Replaced, never mutated, so readers need no lock.
        self._handles: dict[str | None, dict[str, dict[str, object]]] = {}
        self._lock = threading.RLock()
        self._observers: tuple[ServiceCallObserver, ...] = ()
        self._calling: tuple[Callable[..., Any], ...] = ()
        self._start_calling: Start | None = None  # the hooks as one start (aura.hooks.compose)
        self._pools: list[tuple[_Entry, _CallPool]] = []

    # --- registration ---------------------------------------------------------------------------

    def register_service(
        self,
        module_name: str,
        service_name: str,
        service_class: object,
        *,
        contract: type[Any] | None = None,
        breaker: CallableBreaker | None = None,
        timeout: float | None = None,
        policy: CallPolicy | None = None,
    ) -> None:
        """Offer ``service_class`` as ``service_name`` of ``module_name`` (the seed's call).

        ``service_class`` is a class (built by the container, its dependencies injected), a
        factory function, or a ready instance. With ``contract`` (an ABC or Protocol) the class
        must implement it. ``breaker`` and ``timeout`` (or a ``policy``) guard every call from
        other modules.
        """
        check_module_name(module_name)
        _check_service_name(service_name)
        if service_class is None:
            raise ConfigurationError(
                f"Cannot register {module_name}.{service_name}: service_class is None. Pass "
                "the class, a factory function or a ready instance."
            )
        if policy is not None and (breaker is not None or timeout is not None):
            raise ConfigurationError(
                f"Give {module_name}.{service_name} either policy= or breaker=/timeout=, not both."
            )
        policy = policy if policy is not None else _policy_from(breaker, timeout)
        if contract is not None:
            contract_methods(contract)  # refuses a contract that is not a class
            implementation = _implementation_class(service_class)
            if implementation is not None:
                check_conformance(implementation, contract)
        with self._lock:
            existing = self._entries.get((module_name, service_name))
            if existing is not None:
                raise DuplicateServiceError(
                    f"Service {service_name!r} is already registered in module {module_name!r} "
                    f"as {_describe(existing.provider)}; cannot register "
                    f"{_describe(service_class)} under the same name. Unregister the first, or "
                    "choose another name."
                )
            key = f"{module_name}.{service_name}"
            if _is_provider(service_class):
                self.container.register(key, service_class, replace=True)  # type: ignore[arg-type]
            else:
                self.container.register_instance(key, service_class, replace=True)
            self._entries[(module_name, service_name)] = _Entry(
                module_name, service_name, key, service_class, contract, policy
            )

    def register_from(self, package: ModuleType) -> None:
        """Apply the seed's convention: call ``package.register_services(self)``."""
        register = getattr(package, "register_services", None)
        if not callable(register):
            raise ConfigurationError(
                f"{package.__name__} has no register_services(service_registry) function. "
                "Define it in the package's __init__.py, as the seed shows."
            )
        register(self)

    def unregister_service(self, module_name: str, service_name: str) -> None:
        """Withdraw a service; later lookups fail, proxies already handed out keep working."""
        with self._lock:
            self._entry(module_name, service_name)
            del self._entries[(module_name, service_name)]
            self._forget(module_name, service_name)

    # --- lookup ---------------------------------------------------------------------------------

    def get_service(self, module_name: str, service_name: str) -> Any:
        """Return a module's service (the seed's call).

        From the same module's code the result is the object itself. From anywhere else (another
        module, or code outside any module such as a script or a test) it is a proxy that exposes
        the contract's methods, runs each call as the provider module and reports it.
        """
        caller = _current_module()
        try:
            return self._handles[caller][module_name][service_name]
        except (KeyError, TypeError):  # first lookup, or not a name at all: the slow path
            pass
        # Outside the except block, so a refusal does not chain the internal KeyError.
        return self._first_get(caller, module_name, service_name)

    def is_registered(self, module_name: str, service_name: str) -> bool:
        """Tell whether ``get_service`` would find the service (without building it)."""
        return (module_name, service_name) in self._entries

    def services(self, module_name: str | None = None) -> list[ServiceInfo]:
        """Describe the registered services, of one module or of all, in registration order."""
        with self._lock:
            entries = list(self._entries.values())
        return [
            ServiceInfo(
                entry.module_name,
                entry.service_name,
                entry.provider,
                entry.contract,
                entry.policy,
                _exposed(entry, None),
                entry.built,
            )
            for entry in entries
            if module_name is None or entry.module_name == module_name
        ]

    def modules(self) -> list[str]:
        """Return the names of the modules that registered services, sorted."""
        return sorted({module for module, _ in self._entries})

    # Same shape as EventBus.add_observer: each keeps an immutable tuple read without a lock on
    # its hot path; a shared helper would need the owner's lock and attribute passed in.
    def add_interceptor(self, interceptor: Interceptor) -> Callable[[], None]:
        """Surround each cross-module call with ``interceptor``'s ``calling`` hook (see
        :mod:`aura.hooks`); return a function that detaches it."""
        calling = split(interceptor).get("calling")
        if calling is None:
            return lambda: None  # nothing to surround here: its hooks are the bus's
        with self._lock:
            self._calling = (*self._calling, calling)
            self._start_calling = compose(self._calling)

        def remove() -> None:
            with self._lock:
                self._calling = tuple(h for h in self._calling if h != calling)
                self._start_calling = compose(self._calling)

        return remove

    def add_observer(self, observer: ServiceCallObserver) -> Callable[[], None]:
        """Report every cross-module call to ``observer``; return a function that detaches it."""
        with self._lock:
            self._observers = (*self._observers, observer)

        def remove() -> None:
            with self._lock:
                self._observers = tuple(o for o in self._observers if o is not observer)

        return remove

    def override(self, module_name: str, service_name: str, replacement: object) -> Override:
        """Serve ``replacement`` for a service from now on, until the override is restored.

        It takes effect at once (``with`` restores at the end of the block, ``.restore()`` when
        you say), for every caller, including services built earlier that depend on it (see
        :meth:`Container.override`). Callers from other modules still get a proxy (observed,
        contract-limited) around it.
        """
        token = object()
        with self._lock:
            entry = self._entry(module_name, service_name)
            if not entry.replaced:
                entry.original = (entry.provider, entry.built)
            entry.replaced.append((token, replacement))
            entry.provider, entry.built = replacement, False
            self._forget(module_name, service_name)

        def restore() -> None:
            with self._lock:
                entry.replaced = [(t, r) for t, r in entry.replaced if t is not token]
                if entry.replaced:  # restored out of order: the newest one still serves
                    entry.provider, entry.built = entry.replaced[-1][1], False
                elif entry.original is not None:
                    (entry.provider, entry.built), entry.original = entry.original, None
                self._forget(module_name, service_name)

        override = self.container.override(entry.key, replacement)
        override.on_restore(restore)
        return override

    def _rewired(self, keys: frozenset[Key]) -> None:
        """Point the handles of services an override reached at what now serves them.

        Cached handles are dropped; handles callers already hold (a service that looked up
        another in its constructor, a test's own) are retargeted in place, so an override
        reaches them too.
        """
        with self._lock:
            for (module_name, service_name), entry in self._entries.items():
                if entry.key in keys:
                    self._forget(module_name, service_name)
                    if entry.proxies:
                        self._retarget(entry)

    def _retarget(self, entry: _Entry) -> None:
        try:
            instance = self.container.resolve(entry.key)
        except Exception:  # it fails again, with its reason, on next lookup
            return
        for proxy in list(entry.proxies):
            if proxy._aura_target is instance:
                continue
            caller = proxy._aura_caller
            exposed = _owned(entry, instance) if caller is None else proxy._aura_exposed
            proxy._aura_target, proxy._aura_exposed = instance, exposed
            proxy.__dict__.clear()
            for name in exposed:
                method = getattr(instance, name, None)
                if callable(method):
                    proxy.__dict__[name] = self._wrap(caller, entry, name, method)

    def close(self) -> None:
        """Let the worker threads of timed calls end, without waiting for them.

        An idle worker ends now; one running a call ends when the call does (calls still
        queued run first). A call that hangs keeps its thread, a daemon one, which does not stop
        the process from exiting. A timed call made after ``close()`` starts new workers.
        """
        with self._lock:
            pools, self._pools = self._pools, []
            for entry, _ in pools:
                entry.pool = None
        for _, pool in pools:
            pool.close()

    # --- internals ------------------------------------------------------------------------------

    def _forget(self, module_name: str, service_name: str) -> None:
        self._handles = {
            caller: {
                module: {
                    name: handle
                    for name, handle in services.items()
                    if (module, name) != (module_name, service_name)
                }
                for module, services in modules.items()
            }
            for caller, modules in self._handles.items()
        }

    def _entry(self, module_name: str, service_name: str) -> _Entry:
        entry = self._entries.get((module_name, service_name))
        if entry is not None:
            return entry
        modules = self.modules()
        if module_name not in modules:
            raise ServiceNotAvailableError(
                f"No module {module_name!r} in the service registry. Known modules: "
                f"{', '.join(modules) or 'none'}.{_did_you_mean(module_name, modules)}"
            )
        names = [name for module, name in self._entries if module == module_name]
        raise ServiceNotAvailableError(
            f"No service {service_name!r} in module {module_name!r}. Registered there: "
            f"{', '.join(names)}.{_did_you_mean(service_name, names)}"
        )

    def _first_get(self, caller: str | None, module_name: str, service_name: str) -> object:
        for name, value in (("module_name", module_name), ("service_name", service_name)):
            if not isinstance(value, str):
                raise InvalidNameError(
                    f"get_service() takes the module's and the service's names as strings, got "
                    f"{name}={value!r} ({type(value).__name__}). Write "
                    "get_service('users', 'UserService')."
                )
        with self._lock:
            cached = self._handles.get(caller, {}).get(module_name, {}).get(service_name)
            if cached is not None:  # another thread built it while this one waited
                return cached
            entry = self._entry(module_name, service_name)
            try:
                instance = self.container.resolve(entry.key)
            except Exception as exc:
                raise ServiceNotAvailableError(
                    f"Service {service_name!r} of module {module_name!r} could not be created: "
                    f"{type(exc).__name__}: {str(exc).rstrip('.')}. Fix its constructor or "
                    "register what it "
                    "depends on."
                ) from exc
            if entry.contract is not None and _implementation_class(entry.provider) is None:
                try:
                    check_conformance(type(instance), entry.contract)
                except Exception as exc:
                    raise ServiceNotAvailableError(
                        f"Service {service_name!r} of module {module_name!r} was built by a "
                        f"factory, but what it built does not implement "
                        f"{entry.contract.__qualname__}. See the cause for each method."
                    ) from exc
            entry.built = True
            handle: object = instance
            if caller != module_name:
                handle = self._proxy(caller, entry, instance)
            modules = self._handles.get(caller, {})
            services = {**modules.get(module_name, {}), service_name: handle}
            self._handles = {**self._handles, caller: {**modules, module_name: services}}
            return handle

    def _proxy(self, caller: str | None, entry: _Entry, instance: object) -> ServiceProxy:
        fix = ""
        if caller is None:  # outside any module: a test or a script, acting as the owner
            exposed = _owned(entry, instance)
            label = f"{entry.module_name}.{entry.service_name}"
        else:
            exposed = _exposed(entry, instance)
            if entry.contract is not None:
                label = entry.contract.__qualname__
                fix = f" Add it to {label}, or call it from module {entry.module_name!r} itself."
            else:
                label = f"the public methods of {entry.module_name}.{entry.service_name}"
        proxy = ServiceProxy(instance, label, exposed, caller, fix)
        entry.proxies.add(proxy)
        for name in exposed:
            method = getattr(instance, name, None)
            if callable(method):  # a partial stand-in may lack some; __getattr__ explains
                proxy.__dict__[name] = self._wrap(caller, entry, name, method)
        return proxy

    def _wrap(
        self, caller: str | None, entry: _Entry, name: str, method: Callable[..., Any]
    ) -> Callable[..., Any]:
        provider = entry.module_name
        service = entry.service_name
        run = self._guarded(entry, name, method)
        clock = real_perf_counter()  # a local, bound once: durations stay real under freezegun
        if inspect.iscoroutinefunction(method):

            @functools.wraps(method)
            # The async twin of call() below, line for line: a shared body would cost a frame
            # (and a coroutine) on every cross-module call, the registry's hot path.
            async def acall(*args: Any, **kwargs: Any) -> Any:
                token = _context._current_module.set(provider)
                observers = self._observers
                start = self._start_calling
                finish = hooks.started(start, caller, provider, service, name) if start else None
                started = clock()
                error: BaseException | None = None
                try:
                    return await run(*args, **kwargs)
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    if finish is not None:
                        end(finish, error)
                    _context._current_module.reset(token)
                    if observers:
                        self._report(observers, caller, entry, name, clock() - started, error)

            return acall

        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            token = _context._current_module.set(provider)
            observers = self._observers
            start = self._start_calling
            finish = hooks.started(start, caller, provider, service, name) if start else None
            started = clock()
            error: BaseException | None = None
            try:
                return run(*args, **kwargs)
            except BaseException as exc:
                error = exc
                raise
            finally:
                if finish is not None:
                    end(finish, error)
                _context._current_module.reset(token)
                if observers:
                    self._report(observers, caller, entry, name, clock() - started, error)

        return call

    def _guarded(self, entry: _Entry, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        """Return ``method`` behind the entry's policy: timeout inside, breaker outside."""
        policy = entry.policy
        if policy is None:
            return method
        label = f"{entry.module_name}.{entry.service_name}.{name}"
        is_async = inspect.iscoroutinefunction(method)
        timed = method
        if policy.timeout is not None:
            timed = (
                _async_timeout(method, policy.timeout, label)
                if is_async
                else self._sync_timeout(entry, method, policy.timeout, policy.max_workers, label)
            )
        breaker = policy.breaker
        if breaker is None:
            return timed
        if is_async:
            return functools.partial(breaker.acall, timed)
        return functools.partial(breaker.call, timed)

    def _sync_timeout(
        self,
        entry: _Entry,
        method: Callable[..., Any],
        timeout: float,
        workers: int,
        label: str,
    ) -> Callable[..., Any]:
        inline_when = self._inline_when

        def call(*args: Any, **kwargs: Any) -> Any:
            if inline_when is not None and inline_when():
                return _inline(method, args, kwargs, timeout, label)
            pool = entry.pool or self._pool_for(entry, workers)
            job = _Job(contextvars.copy_context().run, (method, *args), kwargs)
            return pool.run(job, timeout, label)

        return call

    def _pool_for(self, entry: _Entry, workers: int) -> _CallPool:
        """The service's worker pool, made at its first timed call (or the first after close)."""
        with self._lock:
            if entry.pool is None:
                entry.pool = _CallPool(f"{entry.module_name}.{entry.service_name}", workers)
                self._pools.append((entry, entry.pool))
            return entry.pool

    def _report(
        self,
        observers: tuple[ServiceCallObserver, ...],
        caller: str | None,
        entry: _Entry,
        method: str,
        duration: float,
        error: BaseException | None,
    ) -> None:
        record = ServiceCall(
            caller_module=caller,
            provider_module=entry.module_name,
            service_name=entry.service_name,
            method=method,
            started_at=datetime.now(UTC) - timedelta(seconds=duration),
            duration=duration,
            error=error,
            correlation_id=_context._correlation_id.get(),
        )
        for observer in observers:
            observer(record)


def _async_timeout(
    method: Callable[..., Awaitable[Any]], timeout: float, label: str
) -> Callable[..., Awaitable[Any]]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline:
                return await method(*args, **kwargs)
        except TimeoutError:
            if not deadline.expired():  # the method's own TimeoutError: not ours to rename
                raise
            raise ServiceTimeoutError(_cancelled_message(label, timeout)) from None

    return call


def _inline(
    method: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    timeout: float,
    label: str,
) -> Any:
    """Run a timed call on the caller's thread (``inline_when`` said so); judge it once done."""
    clock = real_perf_counter()
    started = clock()
    result = method(*args, **kwargs)
    took = clock() - started
    if took > timeout:  # too late: the caller's transaction rolls back
        raise ServiceTimeoutError(_late_message(label, timeout, took))
    return result


# --- the worker threads of timed sync calls ----------------------------------------------------

_QUEUED, _RUNNING, _DONE = "queued", "running", "done"


class _Job:
    """One timed call handed to a worker thread, and its outcome once ``done`` is set."""

    __slots__ = ("abandoned", "args", "done", "error", "func", "kwargs", "result", "state")

    def __init__(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.state = _QUEUED  # changed under the pool's lock
        self.abandoned = False  # its caller stopped waiting while it ran
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.func(*self.args, **self.kwargs)
        except BaseException as exc:  # handed to the caller, as concurrent.futures does
            self.error = exc


class _CallPool:
    """At most ``size`` daemon threads running one service's timed calls, started as needed.

    Not ``concurrent.futures.ThreadPoolExecutor``: its threads are joined when the interpreter
    exits, so one hung call would keep the process from ending. A call waits its timeout for
    a worker, queued; it is refused at once when every worker runs a call that timed out.
    """

    def __init__(self, label: str, size: int) -> None:
        self.label = label
        self.size = size
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._queue: collections.deque[_Job] = collections.deque()
        self._threads = 0
        self._started = 0  # threads ever started, to number their names
        self._idle = 0  # threads waiting for a job and not yet woken for one
        self._hung = 0  # threads running a call whose caller stopped waiting
        self._closed = False

    def run(self, job: _Job, timeout: float, label: str) -> Any:
        """Run ``job`` on a worker; return its result or raise its error, or the timeout's."""
        self._submit(job, label)
        finished = False
        try:
            finished = job.done.wait(timeout)
        finally:  # also when the wait is interrupted: then no one waits for the job either
            found = _DONE if finished else self._abandon(job)
        if found == _QUEUED:
            raise ServiceTimeoutError(_unstarted_message(label, timeout, self.size))
        if found == _RUNNING:
            raise ServiceTimeoutError(_running_message(label, timeout))
        error = job.error
        if error is not None:
            job.error = None  # no cycle through the job keeps the traceback's frames alive
            raise error
        return job.result

    def close(self) -> None:
        """Let idle workers end now and busy ones once the queue is empty."""
        with self._lock:
            self._closed = True
            self._idle = 0
            self._ready.notify_all()

    def _submit(self, job: _Job, label: str) -> None:
        with self._lock:
            if self._hung >= self.size:
                raise ServiceBusyError(_saturated_message(label, self.label, self.size))
            self._queue.append(job)
            if self._idle:
                self._idle -= 1
                self._ready.notify()
                return
            if self._threads >= self.size:
                return  # every worker is busy: the first to finish takes it
            self._threads += 1
            self._started += 1
            name = f"aura-call-{self.label}-{self._started}"
        try:
            threading.Thread(target=self._work, name=name, daemon=True).start()
        except BaseException:
            with self._lock:
                self._threads -= 1
                if job.state == _QUEUED:
                    self._queue.remove(job)
            raise

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue:
                    if self._closed:
                        self._threads -= 1
                        return
                    self._idle += 1
                    self._ready.wait()
                job = self._queue.popleft()
                job.state = _RUNNING
            job.run()
            with self._lock:
                job.state = _DONE
                if job.abandoned:
                    self._hung -= 1
            job.done.set()
            del job  # an idle worker holds no finished call's result

    def _abandon(self, job: _Job) -> str:
        """Stop waiting for ``job``: drop it if still queued, count its worker as hung if it
        runs. Return the state it was found in (``_DONE`` if it finished as the wait ended)."""
        with self._lock:
            state = job.state
            if state == _QUEUED:
                self._queue.remove(job)
            elif state == _RUNNING:
                job.abandoned = True
                self._hung += 1
            return state


def _running_message(label: str, timeout: float) -> str:
    return (
        f"Call to {label} did not return within {timeout:g} s; it is still running in the "
        "background and what it does may still take effect — make it idempotent or give it "
        "its own timeout."
    )


def _unstarted_message(label: str, timeout: float, size: int) -> str:
    return (
        f"Call to {label} did not start within {timeout:g} s: the service's {size} worker "
        "thread(s) were all busy with other calls, so it was dropped and did not run. Raise the "
        "service's timeout or its max_workers, or make its calls cheaper."
    )


def _saturated_message(label: str, service: str, size: int) -> str:
    return (
        f"Call to {label} was refused at once: all {size} worker thread(s) of {service} are "
        "still running calls that timed out, so it could not start. Find out why they hang "
        "(give them their own timeout), or raise the service's max_workers."
    )


def _cancelled_message(label: str, timeout: float) -> str:
    return (
        f"Call to {label} did not return within {timeout:g} s and was cancelled: what it did "
        "before the await it was stopped at stays done, nothing after it runs. Raise the "
        "service's timeout, or make the call cheaper."
    )


def _late_message(label: str, timeout: float, took: float) -> str:
    return (
        f"Call to {label} returned after {took:.2f} s, past its timeout of {timeout:g} s. It ran "
        "on the caller's thread (inline_when held, as inside a database transaction), so it "
        "could not be stopped: what it did has happened, except what it wrote in the caller's "
        "transaction, which rolls back if this error leaves it. Raise the service's timeout, or "
        "make the call cheaper."
    )


def _policy_from(breaker: CallableBreaker | None, timeout: float | None) -> CallPolicy | None:
    if breaker is None and timeout is None:
        return None
    return CallPolicy(breaker=breaker, timeout=timeout)


def _check_service_name(service_name: object) -> None:
    if isinstance(service_name, str) and _SERVICE_NAME.fullmatch(service_name):
        return
    raise InvalidNameError(
        f"Invalid service name {service_name!r}: expected an identifier such as 'UserService'. "
        "Name the service after its class."
    )


def _is_provider(service: object) -> bool:
    """A class or a plain function is built by the container; anything else is an instance."""
    return inspect.isclass(service) or inspect.isfunction(service) or inspect.ismethod(service)


def _implementation_class(service: object) -> type[Any] | None:
    """The class to check against a contract now, or ``None`` for a factory (checked on build)."""
    if inspect.isclass(service):
        return service
    if _is_provider(service):
        return None
    return type(service)


def _exposed(entry: _Entry, instance: object | None) -> tuple[str, ...]:
    if entry.contract is not None:
        return tuple(contract_methods(entry.contract))
    source = instance if instance is not None else entry.provider
    cls = source if inspect.isclass(source) else type(source)
    if not inspect.isclass(source) and _is_provider(source):
        return ()  # a factory not yet built: its methods are unknown until then
    return tuple(
        name for name in dir(cls) if not name.startswith("_") and callable(getattr(cls, name))
    )


def _owned(entry: _Entry, instance: object) -> tuple[str, ...]:
    """What the owner may call: the contract's methods, then every other public method."""
    cls = type(instance)
    public = [
        name for name in dir(cls) if not name.startswith("_") and callable(getattr(cls, name))
    ]
    contract = _exposed(entry, instance) if entry.contract is not None else ()
    return (*contract, *(name for name in public if name not in contract))


def _describe(service: object) -> str:
    if inspect.isclass(service) or inspect.isfunction(service):
        return f"{service.__module__}.{service.__qualname__}"
    return f"an instance of {type(service).__module__}.{type(service).__qualname__}"


def _did_you_mean(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
