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
  import the reference modules in ``conftest.py``: that is paid once per session, not per test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from aura.platform import Platform
from aura.testing.recorders import Trace
from benchmarks.core import Area, Case, Namespace, Target

__all__ = ["AREA", "TESTS", "PytestOverhead", "PytestRunError"]

_GROUP = "fresh platform per test"
_PLAIN = "Platform(...).start(); close()"
_FIXTURE = "+ Trace attached, defaults swapped (as aura_platform)"
_PYTEST_GROUP = "pytest -q, in a subprocess"

TESTS = 200
"""How many tests each generated file holds: the figure is the difference per this many."""

_PYTEST = f"{TESTS} tests with aura_platform minus {TESTS} without (per {TESTS} tests)"

_RECORD = "session-ns.txt"

_CONFTEST = f'''\
"""Both runs import the reference modules (a one-off cost, not the fixture's per-test one) and
record the session's wall and CPU times, from its start to its finish, in {_RECORD}."""

import time
from pathlib import Path

import modules.billing
import modules.mentalhealth
import modules.notifications
import modules.users  # noqa: F401

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


class PytestOverhead:
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
        self.tests = tests
        self._python = python
        self._directory: tempfile.TemporaryDirectory[str] | None = None

    @property
    def project(self) -> Path:
        """The generated project: ``pytest.ini``, ``conftest.py`` and the two test files."""
        if self._directory is None:
            self._directory = tempfile.TemporaryDirectory(prefix="aura-harness-bench-")
            write_project(Path(self._directory.name), self.tests)
        return Path(self._directory.name)

    def session_ns(self, *, fixture: bool, cpu: bool = False) -> int:
        """Run the tests with ``aura_platform`` (or without); return the session's wall time
        in ns (its CPU time with ``cpu=True``: steadier on a busy machine)."""
        file = "test_with.py" if fixture else "test_without.py"
        project = self.project
        record = project / _RECORD
        record.unlink(missing_ok=True)
        command = [
            self._python,
            "-m",
            "pytest",
            "-q",
            "-p",
            "aura.testing.plugin",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            file,
        ]
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
        if (
            completed.returncode != 0
            or f"{self.tests} passed" not in completed.stdout
            or not record.exists()
        ):
            raise PytestRunError(
                f"`{' '.join(command[1:])}` in the generated project {project} exited with "
                f"{completed.returncode}; expected {self.tests} passed tests and the session's "
                f"time in {_RECORD}. Its output:\n{completed.stdout}{completed.stderr}"
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

    def close(self) -> None:
        """Remove the generated project."""
        if self._directory is not None:
            self._directory.cleanup()
            self._directory = None


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
    ),
    targets=(
        Target(f"{_GROUP} / {_PLAIN}", "≤ 1 ms", 1e6),
        Target(f"{_GROUP} / {_FIXTURE}", "≤ 1 ms", 1e6),
        Target(
            f"{_PYTEST_GROUP} / {_PYTEST}",
            f"≤ 1 ms per test (≤ {TESTS} ms per {TESTS})",
            TESTS * 1e6,
        ),
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
        "the reference modules in conftest.py (a once-per-session cost).",
    ),
    packages=("aura", "pytest"),
)
