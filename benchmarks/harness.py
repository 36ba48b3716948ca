"""The test harness: set up and tear down a fresh four-module platform, as each test gets one.

The platform is the reference one (``modules``: users, mentalhealth, notifications, billing) on
an in-memory SQLite database; discovery runs once, as the pytest plugin does once per session.

Two ways of measuring it:

* in process, the fixture's body alone (``Platform(...).start(); close()``, with and without the
  trace and the swapped defaults);
* by pytest itself (:class:`PytestOverhead`): a generated project with 200 tests that take
  ``aura_platform`` and 200 that take nothing, each file run by ``pytest -q -p no:randomly
  -p no:cacheprovider`` in a fresh subprocess. The figure is the difference of the two
  sessions' wall times, divided by 200: everything the fixture costs a test (pytest's fixture
  machinery, the plugin's hooks, the platform, garbage collection of what it leaves), and
  nothing the two runs share (interpreter start, imports, the other tests' own cost). Both runs
  import the reference modules and the harness's recorders in ``conftest.py``: that is paid once
  per session, not per test.

And what the plugin costs a session that never uses it (:class:`StartupOverhead`): ``pytest -q``
on a small project of plain tests, with the plugin (``-p aura.testing.plugin``) and without
(``-p no:aura``), each a fresh subprocess; the figure is the difference of their wall times,
start-up included (it is the point): the plugin's imports, options, markers and hooks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aura.platform import Platform
from aura.testing.recorders import Trace
from benchmarks.core import Area, Case, Namespace, Target

__all__ = ["AREA", "PLAIN_TESTS", "TESTS", "PytestOverhead", "PytestRunError", "StartupOverhead"]

_GROUP = "fresh platform per test"
_PLAIN = "Platform(...).start(); close()"
_FIXTURE = "+ Trace attached, defaults swapped (as aura_platform)"
_PYTEST_GROUP = "pytest -q, in a subprocess"

TESTS = 200
"""How many tests each generated file holds: the figure is the difference per this many."""

_PYTEST = f"{TESTS} tests with aura_platform minus {TESTS} without (per {TESTS} tests)"

_STARTUP = "plugin loaded (-p aura.testing.plugin) minus blocked (-p no:aura), no test using it"

PLAIN_TESTS = 20
"""How many plain tests (no Aura fixture) the start-up project holds."""

_RECORD = "session-ns.txt"

_CONFTEST = f'''\
"""Both runs import the reference modules and the harness's recorders (one-off costs, not the
fixture's per-test one) and record the session's wall and CPU times, from its start to its
finish, in {_RECORD}."""

import time
from pathlib import Path

import modules.billing
import modules.mentalhealth
import modules.notifications
import modules.users  # noqa: F401

# What the first aura_platform of a session imports, the plugin deferring it until a test uses
# a fixture: once per session, like the modules above.
import aura.testing.fakes
import aura.testing.recorders  # noqa: F401

_started = []


def pytest_sessionstart(session):
    _started.append((time.perf_counter_ns(), time.process_time_ns()))


def pytest_sessionfinish(session):
    wall = time.perf_counter_ns() - _started[0][0]
    cpu = time.process_time_ns() - _started[0][1]
    Path(session.config.rootpath, "{_RECORD}").write_text(f"{{wall}} {{cpu}}")
'''

_INI = """\
[pytest]
aura_modules = modules
"""


class PytestRunError(RuntimeError):
    """A generated pytest run failed: the measurement would mean nothing."""


class _GeneratedProject:
    """A project written into a temporary directory on first use, removed by :meth:`close`."""

    _prefix = "aura-harness-bench-"

    def __init__(self, tests: int, *, python: str = sys.executable) -> None:
        self.tests = tests
        self._python = python
        self._directory: tempfile.TemporaryDirectory[str] | None = None

    @property
    def project(self) -> Path:
        """The generated project (see :meth:`_write`)."""
        if self._directory is None:
            self._directory = tempfile.TemporaryDirectory(prefix=self._prefix)
            self._write(Path(self._directory.name))
        return Path(self._directory.name)

    def _write(self, directory: Path) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Remove the generated project."""
        if self._directory is not None:
            self._directory.cleanup()
            self._directory = None


class PytestOverhead(_GeneratedProject):
    """The per-test cost of ``aura_platform`` as pytest sees it, from two generated test files.

    Each run is a fresh ``pytest -q -p no:randomly -p no:cacheprovider`` subprocess with only
    Aura's plugin (``-p aura.testing.plugin``, other plugins' autoload off: they would cost both
    runs alike and only add noise). Its time is the session's, from ``pytest_sessionstart`` to
    ``pytest_sessionfinish`` (the generated ``conftest.py`` records it): collection and every
    test's setup, call and teardown, without the interpreter's start and the imports, which are
    the same for both runs. The project is written on first use, in a temporary directory
    removed by :meth:`close`.
    """

    def __init__(self, tests: int = TESTS, *, python: str = sys.executable) -> None:
        super().__init__(tests, python=python)

    def _write(self, directory: Path) -> None:
        """``pytest.ini``, ``conftest.py`` and the two test files."""
        write_project(directory, self.tests)

    def session_ns(self, *, fixture: bool, cpu: bool = False) -> int:
        """Run the tests with ``aura_platform`` (or without); return the session's wall time
        in ns (its CPU time with ``cpu=True``: steadier on a busy machine)."""
        file = "test_with.py" if fixture else "test_without.py"
        project = self.project
        record = project / _RECORD
        record.unlink(missing_ok=True)
        _run_pytest(self._python, project, ("-p", "aura.testing.plugin", file), self.tests)
        if not record.exists():
            raise PytestRunError(
                f"`pytest {file}` in the generated project {project} passed without writing the "
                f"session's time in {_RECORD}."
            )
        wall, cpu_time = record.read_text().split()
        return int(cpu_time if cpu else wall)

    def difference_ns(self, *, cpu: bool = False) -> int:
        """Run both files; return the session time with the fixture minus the one without."""
        without = self.session_ns(fixture=False, cpu=cpu)
        return self.session_ns(fixture=True, cpu=cpu) - without

    def per_test_ns(self, *, cpu: bool = False) -> float:
        """One measurement, outside the benchmark loop: (with - without) / tests, in ns."""
        return self.difference_ns(cpu=cpu) / self.tests


class StartupOverhead(_GeneratedProject):
    """What Aura's plugin costs a pytest session whose tests use none of its fixtures.

    A small generated project (``pyproject.toml`` and :data:`PLAIN_TESTS` plain tests) run by
    ``pytest -q -p no:randomly -p no:cacheprovider`` in fresh subprocesses, other plugins'
    autoload off: once with the plugin (``-p aura.testing.plugin``), once with it blocked
    (``-p no:aura``, its ``pytest11`` entry point's name). The figure is the difference of the
    two processes' wall times, start-up included: the plugin's imports, its options and
    markers, reading ``[tool.aura]`` and its hooks around each test.
    """

    _prefix = "aura-startup-bench-"

    def __init__(self, tests: int = PLAIN_TESTS, *, python: str = sys.executable) -> None:
        super().__init__(tests, python=python)

    def _write(self, directory: Path) -> None:
        """``pyproject.toml`` and ``test_plain.py``."""
        write_plain_project(directory, self.tests)

    def process_ns(self, *, plugin: bool) -> int:
        """Run the plain tests with the plugin loaded (or blocked); the process's wall time."""
        flag = "aura.testing.plugin" if plugin else "no:aura"
        project = self.project
        started = time.perf_counter_ns()
        _run_pytest(self._python, project, ("-p", flag, "test_plain.py"), self.tests)
        return time.perf_counter_ns() - started

    def difference_ns(self) -> int:
        """Run both; return the wall time with the plugin minus the one without."""
        without = self.process_ns(plugin=False)
        return self.process_ns(plugin=True) - without


def _run_pytest(
    python: str, project: Path, arguments: tuple[str, ...], tests: int
) -> subprocess.CompletedProcess[str]:
    """``pytest -q -p no:randomly -p no:cacheprovider ARGUMENTS`` in ``project``, in a fresh
    subprocess with only the plugins named; refuse a run where not all ``tests`` passed."""
    command = [python, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
    command += arguments
    # The caller's pytest settings (a test run's PYTEST_ADDOPTS) must not change the runs.
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")
    }
    environment["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    completed = subprocess.run(
        command, cwd=project, env=environment, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0 or f"{tests} passed" not in completed.stdout:
        raise PytestRunError(
            f"`{' '.join(command[1:])}` in the generated project {project} exited with "
            f"{completed.returncode}; expected {tests} passed tests. Its output:\n"
            f"{completed.stdout}{completed.stderr}"
        )
    return completed


def write_plain_project(directory: Path, tests: int) -> None:
    """Write the start-up project: a ``pyproject.toml`` without ``[tool.aura]`` and ``tests``
    plain tests."""
    (directory / "pyproject.toml").write_text(_PLAIN_PYPROJECT)
    functions = "".join(
        f"\n\ndef test_{index}():\n    assert {index} + 1 > {index}\n" for index in range(tests)
    )
    (directory / "test_plain.py").write_text(f'"""Generated: {tests} plain tests."""{functions}')


_PLAIN_PYPROJECT = """\
[project]
name = "plain"
version = "0"

[tool.pytest.ini_options]
testpaths = ["."]
"""


def write_project(directory: Path, tests: int) -> None:
    """Write the generated project: the same test bodies, with the fixture and without."""
    (directory / "pytest.ini").write_text(_INI)
    (directory / "conftest.py").write_text(_CONFTEST)
    for file, parameter in (("test_with.py", "aura_platform"), ("test_without.py", "")):
        functions = "".join(
            f"\n\ndef test_{index}({parameter}):\n    assert True\n" for index in range(tests)
        )
        (directory / file).write_text(f'"""Generated: {tests} tests."""{functions}')


def _setup() -> Namespace:
    return {"Platform": Platform, "Trace": Trace, "packages": Platform.discover("modules")}


def _pytest_setup() -> Namespace:
    return {"overhead": PytestOverhead()}


def _pytest_reset(namespace: Namespace) -> None:
    namespace["overhead"].close()


def _startup_setup() -> Namespace:
    return {"startup": StartupOverhead()}


def _startup_reset(namespace: Namespace) -> None:
    namespace["startup"].close()


AREA = Area(
    name="harness",
    title="Test harness: set-up and teardown of a fresh four-module platform",
    cases=(
        Case(
            _GROUP,
            _PLAIN,
            """
            platform = Platform(packages).start()
            platform.close()
            """,
            _setup,
        ),
        Case(
            _GROUP,
            _FIXTURE,
            """
            platform = Platform(packages)
            trace = Trace().attach(platform.bus, platform.registry)
            with platform.as_default():
                platform.start()
            trace.detach()
            platform.close()
            """,
            _setup,
        ),
        Case(
            _PYTEST_GROUP,
            _PYTEST,
            # Two subprocesses per operation, so the loop's clock (_timer and _t0, see the
            # template in benchmarks.core) is set back by all but the two sessions' difference.
            """
            _start = _timer()
            _difference = overhead.difference_ns()
            _t0 += _timer() - _start - _difference
            """,
            _pytest_setup,
            reset=_pytest_reset,
        ),
        Case(
            _PYTEST_GROUP,
            _STARTUP,
            """
            _start = _timer()
            _difference = startup.difference_ns()
            _t0 += _timer() - _start - _difference
            """,
            _startup_setup,
            reset=_startup_reset,
        ),
    ),
    targets=(
        Target(f"{_GROUP} / {_PLAIN}", "≤ 1 ms", 1e6),
        Target(f"{_GROUP} / {_FIXTURE}", "≤ 1 ms", 1e6),
        Target(
            f"{_PYTEST_GROUP} / {_PYTEST}",
            f"≤ 1 ms per test (≤ {TESTS} ms per {TESTS})",
            TESTS * 1e6,
            profile=f"{_GROUP} / {_FIXTURE}",  # what each test's fixture does, in process
        ),
        # Interpreter start-up and imports, in a child: no profile of this process shows them.
        Target(f"{_PYTEST_GROUP} / {_STARTUP}", "≤ 50 ms", 50e6, profile=""),
    ),
    notes=(
        "Each in-process operation builds the container, registry, bus and in-memory SQLite "
        "database, applies the four modules (validating the container for the first platform "
        "of their declarations), runs the start hooks (the tables are copied from a template "
        "after the first platform) and closes everything. The garbage collector is paused.",
        f"The pytest case runs a generated project's {TESTS} tests that take aura_platform and "
        f"its {TESTS} tests that take nothing, each file in its own `pytest -q -p no:randomly "
        "-p no:cacheprovider -p aura.testing.plugin` subprocess (other plugins not loaded); "
        "one operation is the difference of the two sessions' wall times, garbage collection "
        f"included, so the per-test cost is the figure divided by {TESTS}. Both runs import "
        "the reference modules and aura.testing.recorders and .fakes in conftest.py "
        "(once-per-session costs: the plugin imports the recorders when the first test uses "
        "a fixture).",
        f"The start-up case runs a generated project's {PLAIN_TESTS} plain tests (no Aura "
        "fixture; a pyproject.toml without [tool.aura]) twice, each in its own `pytest -q -p "
        "no:randomly -p no:cacheprovider` subprocess, other plugins not loaded: with `-p "
        "aura.testing.plugin` and with `-p no:aura`; one operation is the difference of the "
        "two processes' wall times, interpreter start and imports included.",
    ),
    packages=("aura", "pytest"),
)
