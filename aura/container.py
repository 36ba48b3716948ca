"""The dependency-injection container: lifetimes, autowiring, scopes, overrides and validation.

Its length (~1,100 lines) is one concept's: lifetimes, scopes, overrides and validation share
the registration table and its lock, and splitting them would expose that table across files.

A :class:`Container` maps keys (a name such as ``"user_service"``, or a type) to providers (a
class or a factory callable) and builds services on demand::

    container = Container()
    container.register("user_service", UserService)           # a singleton by default
    container.register(UserRepository, SqlUserRepository, lifetime="scoped")
    get_container().resolve("user_service")                    # the seed's call

Decisions worth knowing:

* **Autowiring.** A provider's parameter is satisfied by its annotated type when that type is
  registered, else by a registration named like the parameter, else by its default. Signatures are
  read once per provider; the chosen keys are bound once per wiring change, so a resolve never
  inspects anything. The hot paths do no work twice: a ready object (a built singleton, a given
  instance, an override) is one dict lookup; a transient, once built, resolves through a resolver
  compiled for the wiring, which is one call of its provider with its ready dependencies as
  constants (by position where the provider's own code takes them so); a scoped service a scope
  has built is one dict lookup in that scope. Every wiring change discards all of it.
* **Lifetimes.** ``singleton`` is built lazily, once per container, under a re-entrant lock;
  ``transient`` is built on every resolve and belongs to the caller (never disposed); ``scoped``
  is built once per :class:`Scope`, under the scope's lock (a hit takes none). A singleton may
  not depend on a scoped service, directly or through transients: :class:`LifetimeMismatchError`.
* **Disposal.** What the container built is disposed newest first: a generator factory's code after
  its ``yield`` runs (use it for context managers: ``with Resource() as r: yield r``), otherwise a
  ``close()`` method is called. Objects given to :meth:`Container.register_instance` or
  :meth:`Container.override` belong to the caller and are never disposed. Every failure is
  collected into one :class:`DisposalError`; the other disposers still run.
* **Overrides** (for tests) replace a key with a ready object until the block exits, even on error,
  and nest as a stack. An unregistered key may be overridden, so a test can supply what is missing.
  Singletons built while an override is active are forgotten when it exits (they may hold the
  replacement) and rebuilt on next use; singletons built before it keep what they hold.
* **Validation.** :meth:`Container.validate` builds nothing and raises one error listing every
  missing dependency, cycle and lifetime mismatch, one per line. Its class is the problems' own
  class when they are all of one kind (:class:`UnknownServiceError`,
  :class:`CircularDependencyError`, :class:`LifetimeMismatchError`), else :class:`ContainerError`,
  their common base.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import keyword
import threading
import types
import unicodedata
import weakref
from collections import deque
from collections.abc import Callable, Generator, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self, TypeAlias, TypeVar, cast, overload

from aura import injection, introspection
from aura.exceptions import (
    CircularDependencyError,
    ContainerError,
    DisposalError,
    LifetimeMismatchError,
    UnknownServiceError,
)

__all__ = [
    "Container",
    "Key",
    "Lifetime",
    "Override",
    "Scope",
    "get_container",
    "set_container",
]

T = TypeVar("T")

Key: TypeAlias = "str | type[Any]"
"""What a service is registered under: a name such as ``"user_service"``, or a type."""

Lifetime: TypeAlias = Literal["singleton", "transient", "scoped"]
"""How long a built service lives: the container's life, one resolve, or one scope."""

_LIFETIMES = ("singleton", "transient", "scoped")

_Resolver: TypeAlias = "Callable[[Scope | None], object]"
_Disposer: TypeAlias = "Callable[[], object]"
_Bound: TypeAlias = "tuple[tuple[str, Key], ...]"
_Generator: TypeAlias = "Generator[object, None, None]"


class _Missing:
    """The type of ``_MISSING``, which marks an absent value where ``None`` is a legal one."""


_MISSING = _Missing()


@dataclass(frozen=True, slots=True)
class _Param:
    """One parameter of a provider: the keys that may satisfy it, most preferred first."""

    name: str
    keys: tuple[Key, ...]
    has_default: bool


@dataclass(eq=False, slots=True)
class _Registration:
    """How one key is provided; holds the singleton once built. Hashed by identity."""

    key: Key
    provider: Callable[..., object]
    lifetime: Lifetime
    external: bool = False  # a ready object the caller owns: never built, never disposed
    is_generator: bool = False
    instance: object = _MISSING
    plan: tuple[_Param, ...] | None = None  # read from the signature on first use


@dataclass(frozen=True, slots=True)
class _Owned:
    """A singleton the container built, kept in creation order for disposal and overrides."""

    registration: _Registration
    instance: object
    dispose: _Disposer | None


@dataclass(eq=False, slots=True)
class _OverrideEntry:
    """One active override; compared by identity so equal overrides unwind independently."""

    key: Key
    replacement: object
    saved: list[tuple[_Registration, object]] = field(default_factory=list)
    """The singletons it set aside (built before it, depending on its key), to put back."""
    first_built: int = 0
    """Where the singletons built while it is in force start in the container's list."""


class Override:
    """An override in force (see :meth:`Container.override`): restore it, or use it in ``with``.

    ``with`` gives the replacement; :meth:`restore` may be called once or many times.
    """

    __slots__ = ("_after", "_container", "_entry")

    def __init__(self, container: Container, entry: Any) -> None:
        # entry: the container's private record of the override (an _OverrideEntry)
        self._container: Container | None = container
        self._entry = entry
        self._after: list[Callable[[], None]] = []
        container._apply_override(entry)

    def on_restore(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the override is restored (before the container rewires)."""
        self._after.append(callback)

    @property
    def replacement(self) -> object:
        """What the key resolves to while the override is in force."""
        return self._entry.replacement

    @property
    def active(self) -> bool:
        """Whether the override is still in force."""
        return self._container is not None

    def restore(self) -> None:
        """End the override: the key resolves as before, and set-aside singletons come back."""
        container, self._container = self._container, None
        if container is not None:
            for callback in reversed(self._after):
                callback()
            container._restore_override(self._entry)

    def __enter__(self) -> Any:
        return self._entry.replacement

    def __exit__(self, *exc_info: object) -> None:
        self.restore()

    def __repr__(self) -> str:
        state = "in force" if self.active else "restored"
        return f"<Override {_quote(self._entry.key)} -> {self._entry.replacement!r} ({state})>"


class _Ready(dict[object, object]):
    """Ready objects by key; looking up any other key resolves it (outside any scope).

    The hot path of :meth:`Container.resolve` is one subscript: a ready object is returned by
    the dict itself, and a miss calls the key's resolver, compiling it on first use.
    """

    __slots__ = ("_compile", "_resolvers")

    def __init__(
        self, resolvers: dict[object, _Resolver], compile_: Callable[[object], _Resolver]
    ) -> None:
        super().__init__()
        self._resolvers = resolvers
        self._compile = compile_

    def __missing__(self, key: object) -> object:
        resolver = self._resolvers.get(key)
        if resolver is None:
            resolver = self._compile(key)
        return resolver(None)


class _ResolutionStack(threading.local):
    """The keys this thread is building, outermost first: meeting one again is a cycle."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[Key] = []


class _ClosesOnExit:
    """``with x:`` gives ``x`` and closes it at the end of the block, even when it raises."""

    def close(self) -> None:
        """Release what this object holds."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        """Enter the block."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close on the way out."""
        self.close()


class Container(_ClosesOnExit):
    """Builds services from registrations: lifetimes, autowiring, scopes, overrides, validation."""

    def __init__(self) -> None:
        self._registrations: dict[Key, _Registration] = {}
        self._overrides: dict[Key, object] = {}
        self._override_stack: list[_OverrideEntry] = []
        self._rewired: tuple[Callable[[frozenset[Key]], None], ...] = ()
        # Looked up with whatever resolve() is given; only valid keys are ever stored. Cleared on
        # every wiring change, so a resolver never acts on a stale binding.
        self._resolvers: dict[object, _Resolver] = {}
        # Ready objects by key (built singletons, overrides, given instances, aliases of them):
        # the hot path of resolve() is one dict lookup. Cleared with the resolvers on every
        # wiring change.
        self._ready = _Ready(self._resolvers, self._compile)
        # The current wiring's flag, shared with the scopes opened under it: a wiring change
        # sets it False (so every scope stops trusting the instances it keeps by key) and
        # starts a new one. See Scope.resolve.
        self._epoch: list[bool] = [True]
        self._built: list[_Owned] = []
        # One re-entrant lock for every singleton: builds nest (a singleton needing a singleton)
        # without deadlock, and two threads cannot each hold half of a dependency chain.
        self._lock = threading.RLock()
        self._stack = _ResolutionStack()
        self._closed = False

    # --- registration ---------------------------------------------------------------------------

    def register(
        self,
        key: Key,
        provider: Callable[..., object] | None = None,
        *,
        lifetime: Lifetime = "singleton",
        replace: bool = False,
    ) -> None:
        """Register ``provider`` (a class or factory; the key itself when omitted) under ``key``.

        A generator function is a factory with cleanup: it yields the instance, and the code
        after ``yield`` runs at disposal. Registering a key twice raises :class:`ContainerError`
        unless ``replace=True``; an instance the replaced registration built is still disposed
        with the container.
        """
        self._add(_new_registration(key, provider, lifetime), replace)

    def register_instance(self, key: Key, instance: object, *, replace: bool = False) -> None:
        """Register a ready object under ``key``; the caller owns it, so it is never disposed."""
        checked = _check_key(key)
        registration = _Registration(
            checked, lambda: instance, "singleton", external=True, instance=instance, plan=()
        )
        self._add(registration, replace)

    def register_alias(self, key: Key, target: Key) -> None:
        """Make ``key`` resolve to whatever ``target`` resolves to (a second name for it).

        The alias adds no lifetime of its own: a singleton target stays one instance.
        ``validate()`` follows the alias to its target.
        """
        checked, wanted = _check_key(key), _check_key(target)
        registration = _Registration(
            checked, _forward, "transient", plan=(_Param("target", (wanted,), False),)
        )
        self._add(registration, replace=False)

    def bind(
        self, function: Callable[..., Any], *, passed: int = 0, owner: str = ""
    ) -> Callable[..., Any]:
        """Return ``function`` with its parameters after the first ``passed`` injected.

        The rule is autowiring's (registered type, else registered name, else the default),
        applied once here: the result resolves the chosen keys on each call and passes the rest
        through. ``function`` itself is returned when nothing is injected. See
        :mod:`aura.injection`.
        """
        return injection.bind(injection.plan(function, self, passed=passed, owner=owner), self)

    def is_registered(self, key: object) -> bool:
        """Tell whether :meth:`resolve` can find ``key``: registered, or currently overridden."""
        if not isinstance(key, str | type):
            return False
        return key in self._registrations or key in self._overrides

    def __contains__(self, key: object) -> bool:
        """Same as :meth:`is_registered`."""
        return self.is_registered(key)

    def keys(self) -> list[Key]:
        """The keys :meth:`resolve` can find: registrations in order, then overrides of others."""
        extra = [key for key in self._overrides if key not in self._registrations]
        return [*self._registrations, *extra]

    # --- resolution -----------------------------------------------------------------------------

    @overload
    def resolve(self, key: Callable[..., T]) -> T: ...
    @overload
    def resolve(self, key: str) -> Any: ...
    def resolve(self, key: object) -> Any:
        """Return the service registered under ``key`` (a name, or a type: typed as that type).

        Scoped services need a scope: resolve them through :meth:`scope`.
        """
        try:
            # A ready object is found; any other key is resolved by _Ready.__missing__.
            return self._ready[key]
        except TypeError:
            if _hashable(key):  # raised while building: the caller's to see
                raise
        return self._compile(key)(None)  # not a key at all: this raises, saying so

    def scope(self) -> Scope:
        """Open a scope: use as ``with container.scope() as scope: scope.resolve(...)``."""
        if self._closed:
            raise ContainerError("The container is closed; cannot open a scope. Build a new one.")
        return Scope(self)

    # --- overrides and validation ---------------------------------------------------------------

    def override(self, key: Key, replacement: object) -> Override:
        """Resolve ``key`` to ``replacement`` from now on, until the override is restored.

        It takes effect at once, with or without ``with``: ``with container.override(K, fake):``
        restores at the end of the block, ``container.override(K, fake).restore()`` when you
        say. Singletons already built that depend on ``key`` (directly or through others) are
        set aside and rebuilt on next use with the replacement; on restore, those rebuilt are
        dropped and the originals come back, state and all. The replacement itself is never
        disposed. An object you took from the container earlier keeps what it holds: resolve
        again after overriding. Overriding an alias overrides what it names, so every name of
        a service serves the replacement.
        """
        target = _check_key(key)
        with self._lock:
            seen = {target}
            # An alias resolves through its target: override the target, so that every name
            # of the service (its key, its aliases, the registry's callers) gets the replacement.
            while (registration := self._registrations.get(target)) is not None and (
                registration.provider is _forward and registration.plan
            ):
                target = registration.plan[0].keys[0]
                if target in seen:
                    break
                seen.add(target)
        return Override(self, _OverrideEntry(target, replacement))

    def on_rewired(self, listener: Callable[[frozenset[Key]], None]) -> None:
        """Call ``listener`` with the keys whose instances an override set aside or restored.

        The service registry uses it to drop the handles it cached for those services.
        """
        self._rewired = (*self._rewired, listener)

    def validate(self) -> None:
        """Check the whole graph without building anything; raise one error listing each problem.

        Reports every missing dependency, every cycle (``a -> b -> a``) and every singleton that
        depends on a scoped service, one per line. The error is of the problems' own class when
        they are all of one kind, else a :class:`ContainerError`.
        """
        with self._lock:
            problems = self._problems()
        if problems:
            raise _aggregate(problems)

    # --- disposal -------------------------------------------------------------------------------

    def close(self) -> None:
        """Dispose the singletons this container built, newest first; later resolves raise.

        Raises :class:`DisposalError` listing every disposer that failed, after running the rest.
        Closing twice does nothing.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            built, self._built = self._built, []
            self._invalidate()
        owned = reversed(built)
        _dispose_all(
            ((o.registration.key, o.dispose) for o in owned if o.dispose is not None),
            "the container",
        )

    # --- wiring (private) -----------------------------------------------------------------------

    def _add(self, registration: _Registration, replace: bool) -> None:
        with self._lock:
            existing = self._registrations.get(registration.key)
            if existing is not None and not replace:
                raise ContainerError(
                    f"{_quote(registration.key)} is already registered (as {_describe(existing)})."
                    " Pass replace=True to replace it."
                )
            self._registrations[registration.key] = registration
            self._invalidate()

    def _invalidate(self) -> None:
        # Bindings depend on what is registered and overridden: rebind on next use.
        self._resolvers.clear()
        self._ready.clear()
        self._epoch[0] = False
        self._epoch = [True]

    def _resolver_for(self, key: object) -> _Resolver:
        try:
            return self._resolvers[key]
        except (KeyError, TypeError):
            return self._compile(key)

    def _compile(self, key: object) -> _Resolver:
        checked = _check_key(key)
        with self._lock:
            if self._closed:
                raise ContainerError(
                    f"The container is closed; cannot resolve {_quote(checked)}."
                    " Resolve services before close(), or build a new container."
                )
            resolver = self._make_resolver(checked)
            self._resolvers[checked] = resolver
            return resolver

    def _make_resolver(self, key: Key) -> _Resolver:
        if key in self._overrides:
            return self._ready_constant(key, self._overrides[key])
        registration = self._registrations.get(key)
        if registration is None:
            raise UnknownServiceError(_unknown_key_message(key, self.keys()))
        if registration.instance is not _MISSING:
            return self._ready_constant(key, registration.instance)
        plan = _plan(registration)
        bound, missing = self._bind(plan)
        if missing:
            raise UnknownServiceError(_missing_dependency_message(registration, missing[0]))
        refusal = self._mismatch(registration, plan, bound)
        if refusal is not None:
            return refusal
        if registration.lifetime == "singleton":
            return self._singleton_resolver(registration, bound)
        if registration.lifetime == "scoped":
            return self._scoped_resolver(registration, bound)
        return self._transient_resolver(registration, bound)

    def _mismatch(
        self, registration: _Registration, plan: tuple[_Param, ...], bound: _Bound
    ) -> _Resolver | None:
        """A resolver refusing to build ``registration`` when a parameter named after a part of
        the platform (``database``...) but annotated another class would get that part: the
        platform still builds (aura check and the harness verify such platforms), the service
        refuses on first use with the fix instead of an AttributeError inside it."""
        names = dict(bound)
        for param in plan:
            if len(param.keys) != 2 or names.get(param.name) != param.name:
                continue
            hint, name = param.keys
            target = self._registrations.get(name)
            if name not in injection.RUNTIME_NAMES or target is None:
                continue
            given = self._overrides.get(name, target.instance)
            if given is _MISSING or not isinstance(hint, type):
                continue
            try:
                fits = isinstance(given, hint)
            except TypeError:  # a Protocol not checkable at run time: trusted
                fits = True
            if not fits:
                provider = _name(registration.provider)
                where = f"{provider}, the provider of {_quote(registration.key)},"
                return _refusing(injection.mismatch_message(where, name, hint, given))
        return None

    def _bind(self, plan: tuple[_Param, ...]) -> tuple[_Bound, list[_Param]]:
        """Choose a key for each parameter; return the choices and the unsatisfiable params."""
        bound: list[tuple[str, Key]] = []
        missing: list[_Param] = []
        registrations, overrides = self._registrations, self._overrides
        for param in plan:
            # A plan's keys are names and types only, so membership is is_registered().
            for key in param.keys:
                if key in registrations or key in overrides:
                    bound.append((param.name, key))
                    break
            else:
                if not param.has_default:
                    missing.append(param)
        return tuple(bound), missing

    def _ready_constant(self, key: Key, value: object) -> _Resolver:
        # A ready object (an override, a given instance, a built singleton): resolve() finds it
        # in _ready, and a transient needing it passes it as a constant once promoted.
        self._ready[key] = value
        return _constant(value)

    def _singleton_resolver(self, registration: _Registration, bound: _Bound) -> _Resolver:
        def resolve_singleton(_scope: Scope | None) -> object:
            with self._lock:
                if registration.instance is _MISSING:
                    # A singleton never sees a scope: whatever it holds must outlive them all.
                    instance, dispose = self._build(registration, bound, None)
                    registration.instance = instance
                    self._built.append(_Owned(registration, instance, dispose))
                instance = registration.instance
                if self._provides(registration):
                    self._resolvers[registration.key] = self._ready_constant(
                        registration.key, instance
                    )
                return instance

        return resolve_singleton

    def _scoped_resolver(self, registration: _Registration, bound: _Bound) -> _Resolver:
        key = registration.key

        def resolve_scoped(scope: Scope | None) -> object:
            if scope is None:
                raise self._outside_scope_error(key)
            # A hit takes no lock: the scope keeps what it built by key while the wiring holds
            # (see Scope.resolve); a miss builds under the scope's lock, checking again there.
            if scope._epoch[0]:
                found = scope._ready.get(key, _MISSING)
                if found is not _MISSING:
                    return found
            return scope._instance(registration, bound)

        return resolve_scoped

    def _transient_resolver(self, registration: _Registration, bound: _Bound) -> _Resolver:
        # The first resolve of a transient goes through this general resolver: it tracks the
        # keys being built (cycles, and the path an error names), and builds the singletons it
        # needs. Once it has succeeded, _promote replaces it with a resolver compiled for the
        # wiring as it now is, which does none of that work again.
        provider, key, stack = registration.provider, registration.key, self._stack
        ready, resolvers, compile_ = self._ready, self._resolvers, self._compile
        pending = True

        def resolve_transient(scope: Scope | None) -> object:
            nonlocal pending
            keys = stack.keys
            if key in keys:
                raise CircularDependencyError(_cycle_message([*keys[keys.index(key) :], key]))
            keys.append(key)
            try:
                kwargs = {}
                for name, dependency in bound:
                    value = ready.get(dependency, _MISSING)
                    if value is _MISSING:
                        value = (resolvers.get(dependency) or compile_(dependency))(scope)
                    kwargs[name] = value
                instance = provider(**kwargs)
            finally:
                keys.pop()
            if pending:
                pending = False
                self._promote(registration, bound, resolve_transient)
            return instance

        return resolve_transient

    def _promote(self, registration: _Registration, bound: _Bound, general: _Resolver) -> None:
        """Install a compiled resolver for a transient that ``general`` has just built.

        Its dependencies are as bound now: a ready object is passed as a constant, anything
        else through its resolver. It keeps no stack: a cycle would have failed the general
        resolve (the wiring it was bound for cannot change, or it would be discarded), and a
        transient that reaches a scoped service through transients resolves outside a scope
        through the general resolver, so that the error names the whole path.
        """
        key = registration.key
        with self._lock:
            if self._resolvers.get(key) is not general:  # rewired meanwhile: bound afresh
                return
            shape: list[tuple[str, bool]] = []
            values: list[object] = []
            for name, dependency in bound:
                if not _spellable(name):
                    return  # only a keyword a call can spell is compiled into one
                value = self._ready.get(dependency, _MISSING)
                is_call = value is _MISSING
                if is_call:
                    value = self._resolvers.get(dependency)
                    if value is None:
                        return
                shape.append((name, is_call))
                values.append(value)
            if registration.provider is _forward and shape and not shape[0][1]:
                # An alias of a ready object is that object.
                self._resolvers[key] = self._ready_constant(key, values[0])
                return
            calls = any(call for _, call in shape)
            guard = general if calls and self._reaches_scoped(key) else None
            leading = _positional_prefix(registration.provider, [name for name, _ in shape])
            maker = _compiled_transient(tuple(shape), leading, guard is not None)
            self._resolvers[key] = maker(registration.provider, guard, *values)

    def _reaches_scoped(self, key: Key) -> bool:
        """Whether ``key`` needs a scoped service directly or through transients, as bound."""
        seen = {key}
        frontier = [key]
        while frontier:
            try:
                bound, _ = self._bind(_plan(self._registrations[frontier.pop()]))
            except ContainerError:
                return True  # cannot tell: keep the general resolver's checks
            for _, dependency in bound:
                if dependency in self._overrides or dependency in seen:
                    continue
                seen.add(dependency)
                lifetime = self._registrations[dependency].lifetime
                if lifetime == "scoped":
                    return True
                if lifetime == "transient":
                    frontier.append(dependency)
        return False

    def _provides(self, registration: _Registration) -> bool:
        # False when the wiring changed while the singleton was being built (a factory that
        # replaced or overrode its own key): then its fast path must not be installed.
        key = registration.key
        return self._registrations.get(key) is registration and key not in self._overrides

    def _build(
        self, registration: _Registration, bound: _Bound, scope: Scope | None
    ) -> tuple[object, _Disposer | None]:
        """Call the provider with its dependencies; return the instance and how to dispose it."""
        stack = self._stack.keys
        key = registration.key
        if key in stack:
            raise CircularDependencyError(_cycle_message([*stack[stack.index(key) :], key]))
        stack.append(key)
        try:
            kwargs = {name: self._resolver_for(dep)(scope) for name, dep in bound}
            result = registration.provider(**kwargs)
            if registration.is_generator:
                return _start_generator(registration, cast(_Generator, result))
        finally:
            stack.pop()
        close = getattr(result, "close", None)
        return result, close if callable(close) else None

    def _outside_scope_error(self, key: Key) -> ContainerError:
        path = [*self._stack.keys, key]
        owners = [
            i for i, k in enumerate(path[:-1]) if self._registrations[k].lifetime == "singleton"
        ]
        if owners:  # the innermost singleton being built is the one that would capture it
            return LifetimeMismatchError(_mismatch_message(path[owners[-1] :]))
        via = f" ({_path(path)})" if len(path) > 1 else ""
        return ContainerError(
            f"Cannot resolve scoped {_quote(key)} outside a scope{via}."
            " Resolve it inside `with container.scope() as scope:` with scope.resolve(...)."
        )

    def _apply_override(self, entry: _OverrideEntry) -> None:
        """Put ``entry`` in force; set aside the built singletons that depend on its key."""
        with self._lock:
            if self._closed:
                raise ContainerError(
                    f"The container is closed; cannot override {_quote(entry.key)}. Override "
                    "before close(), or build a new container."
                )
            affected = self._dependents_of(entry.key)
            for owned in self._built:
                registration = owned.registration
                if registration.key in affected and registration.instance is owned.instance:
                    entry.saved.append((registration, owned.instance))
                    registration.instance = _MISSING
            self._override_stack.append(entry)
            self._overrides[entry.key] = entry.replacement
            entry.first_built = len(self._built)
            self._invalidate()
            listeners = self._rewired
        for listener in listeners:
            listener(affected)

    def _restore_override(self, entry: _OverrideEntry) -> None:
        with self._lock:
            self._override_stack.remove(entry)
            self._overrides = {e.key: e.replacement for e in self._override_stack}
            # Everything built while it was in force may hold the replacement: rebuild on next
            # use, and never put back by a later override that set it aside.
            during = self._built[entry.first_built :]
            built_during = {id(owned.instance) for owned in during}
            for owned in during:
                owned.registration.instance = _MISSING
            for other in self._override_stack:
                other.saved = [(r, i) for r, i in other.saved if id(i) not in built_during]
            # What it set aside comes back, unless an override still in force reaches it:
            # then that one puts it back when it ends (overrides restored out of order).
            for registration, instance in entry.saved:
                holder = next(
                    (
                        other
                        for other in reversed(self._override_stack)
                        if registration.key in self._dependents_of(other.key)
                    ),
                    None,
                )
                if holder is None:
                    registration.instance = instance
                else:
                    holder.saved.append((registration, instance))
            self._invalidate()
            affected = self._dependents_of(entry.key)
            listeners = self._rewired
        for listener in listeners:
            listener(affected)

    def _dependents_of(self, key: Key) -> frozenset[Key]:
        """``key`` and every key whose wiring reaches it, as bound now."""
        graph, _ = self._graph()
        users: dict[Key, list[Key]] = {}
        for dependent, dependencies in graph.items():
            for dependency in dependencies:
                users.setdefault(dependency, []).append(dependent)
        found = {key}
        frontier = [key]
        while frontier:
            for dependent in users.get(frontier.pop(), ()):
                if dependent not in found:
                    found.add(dependent)
                    frontier.append(dependent)
        return frozenset(found)

    # --- validation (private) -------------------------------------------------------------------

    def _problems(self) -> list[ContainerError]:
        graph, problems = self._graph()
        problems += [CircularDependencyError(_cycle_message(c)) for c in _find_cycles(graph)]
        for key in graph:
            if self._lifetime_of(key) == "singleton":
                path = self._scoped_path(key, graph)
                if path is not None:
                    problems.append(LifetimeMismatchError(_mismatch_message(path)))
        return problems

    def _graph(self) -> tuple[dict[Key, tuple[Key, ...]], list[ContainerError]]:
        """Every resolvable key's dependencies as bound now, and the problems met binding them."""
        graph: dict[Key, tuple[Key, ...]] = {}
        problems: list[ContainerError] = []
        for key in self.keys():
            graph[key] = ()
            if key in self._overrides:  # a ready object: it depends on nothing
                continue
            registration = self._registrations[key]
            try:
                bound, missing = self._bind(_plan(registration))
            except ContainerError as error:
                problems.append(error)
                continue
            problems += [
                UnknownServiceError(_missing_dependency_message(registration, p)) for p in missing
            ]
            graph[key] = tuple(dep for _, dep in bound)
        return graph, problems

    def _lifetime_of(self, key: Key) -> str:
        return "override" if key in self._overrides else self._registrations[key].lifetime

    def _scoped_path(self, start: Key, graph: dict[Key, tuple[Key, ...]]) -> list[Key] | None:
        """The shortest path from ``start`` to a scoped service through transients, if any."""
        paths = deque([[start]])
        seen = {start}
        while paths:
            path = paths.popleft()
            for dep in graph[path[-1]]:
                lifetime = self._lifetime_of(dep)
                if lifetime == "scoped":
                    return [*path, dep]
                if lifetime == "transient" and dep not in seen:  # transients are built into it
                    seen.add(dep)
                    paths.append([*path, dep])
        return None


class Scope(_ClosesOnExit):
    """One unit of work: scoped services are built once in it and disposed when it closes."""

    def __init__(self, container: Container) -> None:
        self._container = container
        self._instances: dict[_Registration, object] = {}
        self._disposers: list[tuple[Key, _Disposer]] = []
        self._lock = threading.RLock()
        self._closed = False
        # The scoped instances this scope built, by the key that resolves to them now; trusted
        # while the container's wiring flag it was filled under holds. Written under _lock,
        # read without it.
        self._ready: dict[object, object] = {}
        self._epoch = container._epoch

    @overload
    def resolve(self, key: Callable[..., T]) -> T: ...
    @overload
    def resolve(self, key: str) -> Any: ...
    def resolve(self, key: object) -> Any:
        """Return the service under ``key``; a scoped one is this scope's instance."""
        # The hot path: a scoped service this scope already built, one dict lookup and no
        # lock. The flag is read first: what is found after it held when it was read.
        if self._epoch[0]:
            try:
                found = self._ready.get(key, _MISSING)
            except TypeError:  # not a key at all: the slow path says so
                found = _MISSING
            if found is not _MISSING:
                return found
        if self._closed:
            raise ContainerError(
                "This scope is closed and its services are disposed."
                " Resolve scoped services inside the `with container.scope() as scope:` block."
            )
        return self._container._resolver_for(key)(self)

    def close(self) -> None:
        """Dispose this scope's services, newest first; closing twice does nothing.

        Raises :class:`DisposalError` listing every disposer that failed, after running the rest.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            disposers, self._disposers = self._disposers, []
            self._instances.clear()
            self._ready.clear()
        _dispose_all(reversed(disposers), "the scope")

    def _instance(self, registration: _Registration, bound: _Bound) -> object:
        with self._lock:
            instance = self._instances.get(registration, _MISSING)
            if instance is _MISSING:
                instance, dispose = self._container._build(registration, bound, self)
                self._instances[registration] = instance
                if dispose is not None:
                    self._disposers.append((registration.key, dispose))
            container = self._container
            epoch = container._epoch
            if self._epoch is not epoch:  # the wiring changed: what was kept by key may lie
                self._ready.clear()
                self._epoch = epoch
            # Read after the flag: a wiring change from here on clears the flag, so an entry
            # written for a registration no longer in force is never trusted.
            if not self._closed and container._provides(registration):
                self._ready[registration.key] = instance
            return instance


# --- the process-wide default -------------------------------------------------------------------

_default_container: Container | None = None
_default_lock = threading.Lock()


def get_container() -> Container:
    """Return the process-wide default container, created on first call."""
    global _default_container
    container = _default_container
    if container is None:
        with _default_lock:
            # Another thread may have created it while this one waited for the lock.
            if_absent = _default_container if _default_container is not None else Container()
            container = _default_container = if_absent
    return container


def set_container(container: Container | None) -> Container | None:
    """Make ``container`` the process-wide default; return the previous one to restore later.

    ``None`` means "create a fresh default on next use", and is what is returned when no default
    existed yet.
    """
    global _default_container
    with _default_lock:
        previous, _default_container = _default_container, container
    return previous


# --- registrations and plans --------------------------------------------------------------------


def _check_key(key: object) -> Key:
    if isinstance(key, type) or (isinstance(key, str) and key.strip()):
        return key
    raise ContainerError(
        f"A container key must be a non-empty name or a type, got {key!r}"
        f" ({type(key).__name__}). Use a name such as 'user_service', or the class itself."
    )


def _new_registration(key: object, provider: object, lifetime: object) -> _Registration:
    checked = _check_key(key)
    if lifetime not in _LIFETIMES:
        raise ContainerError(
            f"Unknown lifetime {lifetime!r} for {_quote(checked)}."
            " Expected 'singleton', 'transient' or 'scoped'."
        )
    if provider is None:
        if not isinstance(checked, type):
            raise ContainerError(
                f"register({_quote(checked)}) needs a provider: only a type can provide itself."
                f" Pass the class or factory that builds {_quote(checked)}."
            )
        provider = checked
    if not callable(provider):
        raise ContainerError(
            f"The provider for {_quote(checked)} must be a class or a factory callable, got"
            f" {provider!r} ({type(provider).__name__})."
            f" To register a ready object, use register_instance({_quote(checked)}, obj)."
        )
    is_async, is_generator = _kind_of(provider)
    if is_async:
        raise ContainerError(
            f"The provider {_name(provider)} for {_quote(checked)} is asynchronous, but the"
            " container builds synchronously. Register a synchronous factory."
        )
    if is_generator and lifetime == "transient":
        raise ContainerError(
            f"Generator factory {_name(provider)} for {_quote(checked)} cannot be transient:"
            " nothing would run its cleanup. Register it as 'singleton' or 'scoped'."
        )
    return _Registration(checked, provider, cast(Lifetime, lifetime), is_generator=is_generator)


# Declarations outlive containers (one per platform, one platform per test): what is read from a
# provider itself is kept per provider, weakly, as aura.introspection keeps signatures. Failures
# are not kept: they raise each time, naming the registration.
_kinds: weakref.WeakKeyDictionary[Any, tuple[bool, bool]] = weakref.WeakKeyDictionary()
_parameters: weakref.WeakKeyDictionary[Any, tuple[_Param, ...]] = weakref.WeakKeyDictionary()


def _kind_of(provider: object) -> tuple[bool, bool]:
    """``(is_async, is_generator)`` of a provider, read once per provider."""
    with suppress(KeyError, TypeError):  # not seen yet, or not weakly referable / hashable
        return _kinds[provider]
    kind = (
        inspect.iscoroutinefunction(provider) or inspect.isasyncgenfunction(provider),
        inspect.isgeneratorfunction(provider),
    )
    with suppress(TypeError):
        _kinds[provider] = kind
    return kind


def _refusing(message: str) -> _Resolver:
    """A resolver that raises ``message`` (a service the platform would build wrongly)."""

    def refuse(_scope: Scope | None) -> object:
        raise ContainerError(message)

    return refuse


def _plan(registration: _Registration) -> tuple[_Param, ...]:
    """The provider's parameters, read from its signature once per provider and kept."""
    if registration.plan is None:
        provider = registration.provider
        with suppress(KeyError, TypeError):
            registration.plan = _parameters[provider]
            return registration.plan
        registration.plan = _read_parameters(registration)
        with suppress(TypeError):
            _parameters[provider] = registration.plan
    return registration.plan


def _read_parameters(registration: _Registration) -> tuple[_Param, ...]:
    provider = registration.provider
    where = f"{_name(provider)}, the provider of {_quote(registration.key)}"
    try:
        signature = introspection.signature(provider)
    except (TypeError, ValueError) as error:
        raise ContainerError(
            f"Cannot read the signature of {where}: {error}."
            " Register a factory function that builds it instead."
        ) from error
    hints = _type_hints(provider, where)
    params: list[_Param] = []
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue  # *args and **kwargs name nothing to inject
        if p.kind is p.POSITIONAL_ONLY:
            raise ContainerError(
                f"Cannot autowire {where}: parameter {p.name!r} is positional-only."
                " Make it a regular parameter, or register a factory that passes it."
            )
        annotation = hints.get(p.name)
        keys = (annotation, p.name) if isinstance(annotation, type) else (p.name,)
        params.append(_Param(p.name, keys, p.default is not p.empty))
    return tuple(params)


def _type_hints(provider: Callable[..., object], where: str) -> dict[str, Any]:
    # get_type_hints evaluates string annotations (``from __future__ import annotations``).
    target: object
    if isinstance(provider, type):
        target = provider.__init__  # type: ignore[misc]  # read, never called on an instance
    elif inspect.isroutine(provider):
        target = provider
    else:  # a callable object: its __call__ carries the annotations
        target = type(provider).__call__
    try:
        return introspection.type_hints(target)
    except NameError as error:
        raise ContainerError(
            f"Cannot resolve the type hints of {where}: {error}."
            " Import the annotated types at runtime, not only under TYPE_CHECKING."
        ) from error


def _forward(target: object) -> object:
    """The provider of an alias: the target, resolved and passed in by the container."""
    return target


def _spellable(name: str) -> bool:
    """Whether ``name`` written in source is that keyword (Python normalizes names: NFKC)."""
    return (
        name.isidentifier()
        and not keyword.iskeyword(name)
        and unicodedata.normalize("NFKC", name) == name
    )


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _constant(value: object) -> _Resolver:
    return lambda _scope: value


def _positional_prefix(provider: object, names: list[str]) -> int:
    """How many of ``names`` (in order) ``provider`` takes by position exactly as by keyword.

    Only where its own code says so: a plain function, or a class built by ``type.__call__``,
    ``object.__new__`` and a plain ``__init__``, whose positional-or-keyword parameters start
    with these names. A call by position is then the same call, and cheaper (no keyword
    dict); anything else (wrappers, ``__signature__``, metaclasses) is called by keyword.
    """
    function: object = provider
    skip = 0
    if isinstance(provider, type):
        # A metaclass's own __call__, or a __new__, may do anything with the arguments.
        builds: object = type(provider).__call__
        creates: object = provider.__new__
        if builds is not type.__call__ or creates is not object.__new__:
            return 0
        function, skip = provider.__init__, 1  # type: ignore[misc]  # read, never called
    if not isinstance(function, types.FunctionType):
        return 0
    code = function.__code__
    if code.co_posonlyargcount > skip:
        return 0
    positional = code.co_varnames[skip : code.co_argcount]
    count = 0
    for name, parameter in zip(names, positional, strict=False):
        if name != parameter:
            break
        count += 1
    return count


@functools.lru_cache(maxsize=256)
def _compiled_transient(
    shape: tuple[tuple[str, bool], ...], leading: int, guarded: bool
) -> Callable[..., _Resolver]:
    """A maker of transient resolvers for one shape of call, compiled once per shape.

    ``shape`` lists the arguments in order, each with whether its value is a resolver to call
    with the scope (else a constant); the first ``leading`` are passed by position, the rest
    by keyword. The maker takes the provider, the general resolver (used outside a scope when
    ``guarded``) and the values, and returns a resolver that is one call of the provider. The
    names are identifiers, checked by the caller.
    """
    values = [f"{'call' if is_call else 'value'}{i}" for i, (_, is_call) in enumerate(shape)]
    arguments = ", ".join(
        ("" if i < leading else f"{name}=") + (f"{value}(scope)" if is_call else value)
        for i, ((name, is_call), value) in enumerate(zip(shape, values, strict=True))
    )
    guard = "        if scope is None:\n            return general(scope)\n" if guarded else ""
    source = (
        f"def make({', '.join(['provider', 'general', *values])}):\n"
        "    def resolve_transient(scope):\n"
        f"{guard}"
        f"        return provider({arguments})\n"
        "    return resolve_transient\n"
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, "<aura.container transient>", "exec"), namespace)
    maker: Callable[..., _Resolver] = namespace["make"]
    return maker


# --- generators and disposal --------------------------------------------------------------------


def _start_generator(
    registration: _Registration, generator: _Generator
) -> tuple[object, _Disposer]:
    try:
        instance = next(generator)
    except StopIteration:
        raise ContainerError(
            f"Generator factory {_name(registration.provider)} for {_quote(registration.key)}"
            " returned without yielding. It must yield exactly one instance."
        ) from None
    return instance, functools.partial(_finish_generator, registration, generator)


def _finish_generator(registration: _Registration, generator: _Generator) -> None:
    try:
        next(generator)
    except StopIteration:
        return
    generator.close()
    raise ContainerError(
        f"Generator factory {_name(registration.provider)} for {_quote(registration.key)}"
        " yielded more than once. It must yield exactly one instance."
    )


def _dispose_all(disposers: Iterable[tuple[Key, _Disposer]], owner: str) -> None:
    errors: list[BaseException] = []
    lines: list[str] = []
    for key, dispose in disposers:
        try:
            dispose()
        except Exception as error:  # keep going: one failure must not leak the others
            errors.append(error)
            lines.append(f"  - {_show(key)}: {type(error).__name__}: {error}")
    if errors:
        raise DisposalError(
            f"Closing {owner} failed to dispose {_plural(len(errors), 'service')}"
            " (the others were disposed):\n" + "\n".join(lines),
            errors,
        )


# --- graph checks and messages ------------------------------------------------------------------


def _find_cycles(graph: dict[Key, tuple[Key, ...]]) -> list[list[Key]]:
    """Each cycle closed by a back edge of a depth-first walk, as a path ``a -> ... -> a``."""
    cycles: list[list[Key]] = []
    done: set[Key] = set()
    path: list[Key] = []

    def visit(key: Key) -> None:
        path.append(key)
        for dep in graph[key]:
            if dep in path:
                cycles.append([*path[path.index(dep) :], dep])
            elif dep not in done:
                visit(dep)
        path.pop()
        done.add(key)

    for key in graph:
        if key not in done:
            visit(key)
    return cycles


def _aggregate(problems: list[ContainerError]) -> ContainerError:
    kinds = {type(problem) for problem in problems}
    kind = kinds.pop() if len(kinds) == 1 else ContainerError
    lines = "\n".join(f"  - {problem}" for problem in problems)
    return kind(f"Container validation found {_plural(len(problems), 'problem')}:\n{lines}")


def _unknown_key_message(key: Key, known: list[Key]) -> str:
    shown = {_show(k): k for k in known}
    listing = ", ".join(sorted(shown)) or "(none)"
    guesses = difflib.get_close_matches(_show(key), list(shown), n=3, cutoff=0.75)
    if guesses:
        hint = "Did you mean " + " or ".join(_quote(shown[g]) for g in guesses) + "?"
    else:
        hint = f"Register it with container.register({_quote(key)}, ...)."
    return f"No registration for {_quote(key)}. Registered keys: {listing}. {hint}"


def _missing_dependency_message(registration: _Registration, param: _Param) -> str:
    wanted = " or ".join(_quote(k) for k in param.keys)
    return (
        f"Cannot build {_quote(registration.key)}: parameter {param.name!r} of"
        f" {_name(registration.provider)} needs {wanted}, and no registration matches."
        f" Register one, or give {param.name!r} a default."
    )


def _cycle_message(path: list[Key]) -> str:
    return f"Circular dependency: {_path(path)}. Remove one of these dependencies to break it."


def _mismatch_message(path: list[Key]) -> str:
    owner, scoped = _quote(path[0]), _quote(path[-1])
    return (
        f"Singleton {owner} depends on scoped {scoped} ({_path(path)}). A singleton outlives"
        f" every scope: make {owner} scoped, or {scoped} a singleton."
    )


def _describe(registration: _Registration) -> str:
    if registration.external:
        return "a ready instance"
    return f"{registration.lifetime} {_name(registration.provider)}"


def _show(key: Key) -> str:
    return key if isinstance(key, str) else key.__qualname__


def _quote(key: Key) -> str:
    return repr(key) if isinstance(key, str) else key.__qualname__


def _path(keys: list[Key]) -> str:
    return " -> ".join(_show(key) for key in keys)


def _name(provider: object) -> str:
    return str(getattr(provider, "__qualname__", repr(provider)))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
