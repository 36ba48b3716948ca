"""Aura inside a Django project, end to end: apps as modules, AuraMiddleware, ``manage.py aura``
and the pytest-django harness (``aura.integrations.django.testing``).

Django's settings and app registry are the process's, so each case runs a small project of its
own in a pytest subprocess (pytester): a ``clinic`` with the apps ``patients`` and ``visits``
(one module each) and ``billing.invoices`` + ``billing.payments`` (one module, ``billing``, of
two apps), on a SQLite file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("pytest_django")

SETTINGS = """
    from pathlib import Path

    BASE = Path(__file__).resolve().parent.parent
    SECRET_KEY = "test"
    USE_TZ = True
    ROOT_URLCONF = "clinic.urls"
    DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
    INSTALLED_APPS = [
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "aura.integrations.django",
        "clinic.patients",
        "clinic.visits",
        "clinic.billing.invoices",
        "clinic.billing.payments",
        "clinic.legacy",
    ]
    MIDDLEWARE = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "aura.integrations.django.AuraMiddleware",
    ]
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(BASE / "clinic.db")}
    }
    AURA = {"DATABASE": "default", "DURABLE": True}
"""

WITHOUT_BILLING = """
[tool.aura.boundaries.modules.patients]
package = "clinic.patients"
[tool.aura.boundaries.modules.visits]
package = "clinic.visits"
depends_on = ["patients"]
"""
CLINIC_MAP = (
    WITHOUT_BILLING + '[tool.aura.boundaries.modules.billing]\npackage = "clinic.billing"\n'
)
"""The module map of the clinic's three modules, as pyproject.toml declares it."""

PROJECT = {
    "clinic/__init__.py": "",
    "clinic/settings.py": SETTINGS,
    "clinic/urls.py": """
        from django.urls import path

        from clinic.visits.views import book, whoami

        urlpatterns = [path("visits/", book), path("whoami/", whoami)]
    """,
    "clinic/patients/__init__.py": """
        from aura import Module

        module = Module("patients")


        @module.service(name="Directory")
        class Directory:
            def exists(self, patient_id: int) -> bool:
                return patient_id < 100
    """,
    "clinic/contracts.py": """
        from dataclasses import dataclass

        from aura import event_contract


        @event_contract("visit.booked")
        @dataclass(frozen=True)
        class VisitBooked:
            patient: int
    """,
    "clinic/visits/__init__.py": """
        from aura import Module

        import clinic.contracts  # noqa: F401 - the events it publishes

        module = Module("visits", depends_on=["patients"])
        module.publishes("visit.booked")
    """,
    "clinic/visits/views.py": """
        import json

        from django.db import transaction
        from django.http import JsonResponse

        from aura.context import current_module
        from aura.integrations.django import module_services, platform


        def book(request):
            body = json.loads(request.body)
            visits = module_services("visits")
            if not visits.get("patients", "Directory").exists(body["patient"]):
                return JsonResponse({"error": "no such patient"}, status=404)
            with transaction.atomic():
                # no module given: the middleware runs this view as its app's module
                event = platform().bus.publish("visit.booked", {"patient": body["patient"]})
                if body.get("fail"):
                    raise RuntimeError("booking failed after the publish")
            return JsonResponse({"event": event.event_id, "source": event.source_module})


        def whoami(request):
            return JsonResponse({"module": current_module()})
    """,
    "clinic/billing/__init__.py": """
        from aura import Module

        module = Module("billing")
        invoiced = []


        @module.subscribe("visit.booked", name="invoice")
        def invoice(data):
            if data["patient"] == 66:
                raise RuntimeError("cannot invoice patient 66")
            invoiced.append(data["patient"])
    """,
    "clinic/billing/invoices/__init__.py": "",
    "clinic/billing/invoices/apps.py": """
        from django.apps import AppConfig


        class InvoicesConfig(AppConfig):
            name = "clinic.billing.invoices"
            label = "invoices"
            aura_module = "clinic.billing"
    """,
    "clinic/billing/payments/__init__.py": "",
    "clinic/billing/payments/apps.py": """
        from django.apps import AppConfig


        class PaymentsConfig(AppConfig):
            name = "clinic.billing.payments"
            label = "payments"
            aura_module = "clinic.billing"
    """,
    "clinic/legacy/__init__.py": """
        from aura import Module

        module = Module("legacy")  # declared, but its AppConfig says the app is no module
    """,
    "clinic/legacy/apps.py": """
        from django.apps import AppConfig


        class LegacyConfig(AppConfig):
            name = "clinic.legacy"
            aura_module = None
    """,
    "manage.py": """
        import os
        import sys

        if __name__ == "__main__":
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
            from django.core.management import execute_from_command_line

            execute_from_command_line(sys.argv)
    """,
}


@pytest.fixture
def clinic(pytester: pytest.Pytester) -> pytest.Pytester:
    """The project, with pytest-django pointed at its settings and Aura's Django harness on."""
    pytester.makefile(
        ".ini",
        pytest="[pytest]\nDJANGO_SETTINGS_MODULE = clinic.settings\npythonpath = .\n"
        "addopts = -p no:randomly -p no:cacheprovider\n",
    )
    for name, text in PROJECT.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    pytester.makeconftest('pytest_plugins = ["aura.integrations.django.testing"]\n')
    return pytester


def python(project: Path, *arguments: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """``python ARGUMENTS`` in the project, its output captured; ``settings`` go into its
    environment."""
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environment(project, **settings),
    )


def environment(project: Path, **settings: str) -> dict[str, str]:
    """The environment of a child in the project: this one's, the project importable, no
    settings module but those given."""
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return {**inherited, "PYTHONPATH": str(project), **settings}


def manage(project: Path, *arguments: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """``python manage.py ARGUMENTS`` in the project (manage.py names the settings)."""
    return python(project, "manage.py", *arguments, **settings)


def script(project: Path, code: str) -> subprocess.CompletedProcess[str]:
    """``python -c CODE`` in the project, with its Django settings."""
    return python(project, "-c", code, DJANGO_SETTINGS_MODULE="clinic.settings")


# --- apps as modules ----------------------------------------------------------------------------


def test_apps_declare_the_modules_and_manage_py_aura_modules_prints_them(
    clinic: pytest.Pytester,
) -> None:
    done = manage(clinic.path, "aura", "modules")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "patients  (apps: patients)",
        "  depends on: nothing",
        "  services: Directory",
        "  publishes: nothing",
        "  handles: nothing",
        "visits  (apps: visits)",
        "  depends on: patients",
        "  services: none",
        "  publishes: visit.booked",
        "  handles: nothing",
        "billing  (apps: invoices, payments)",
        "  depends on: nothing",
        "  services: none",
        "  publishes: nothing",
        "  handles: visit.booked",
        "3 modules.",
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("clinic/visits/__init__.py", 'depends_on=["patients"]', 'depends_on=["patient"]'),
            "Module 'visits' (app 'visits') depends on 'patient', which no installed app "
            "declares (the apps' modules: patients, visits, billing). Did you mean 'patients'? "
            "Add the app of 'patient' to INSTALLED_APPS, or fix depends_on.",
        ),
        (
            ("clinic/billing/payments/apps.py", '"clinic.billing"', '"clinic.biling"'),
            "PaymentsConfig.aura_module of app 'payments' is 'clinic.biling', which cannot be "
            "imported: No module named 'clinic.biling'. Name the package whose __init__.py "
            "declares module = Module(...).",
        ),
        (
            ("clinic/billing/payments/apps.py", '"clinic.billing"', '"clinic.visits.views"'),
            "PaymentsConfig.aura_module of app 'payments' is 'clinic.visits.views', which "
            "declares no module: give it a 'module = Module(...)' attribute, or set "
            "aura_module = None if the app is no module.",
        ),
        (
            ("clinic/legacy/apps.py", "aura_module = None", 'label = "visits2"'),
            "",  # legacy becomes a module of its own: no error, checked below
        ),
        (
            ("clinic/patients/__init__.py", 'Module("patients")', 'Module("visits")'),
            "Apps 'patients' and 'visits' declare two different modules named 'visits'. Give "
            "one of them another name, or point both apps at one module package with "
            "aura_module = '...' on their AppConfigs.",
        ),
        (
            ("clinic/settings.py", '"DURABLE": True', '"DURABLE": True, "WORKER": 2'),
            "settings.AURA has an unknown key 'WORKER' (known: DATABASE, DURABLE, "
            "REQUIRE_TRANSACTION, WORKERS, OPTIONS). Did you mean 'WORKERS'?",
        ),
        (
            ("clinic/settings.py", '"DATABASE": "default"', '"database": "default"'),
            "settings.AURA has an unknown key 'database' (known: DATABASE, DURABLE, "
            "REQUIRE_TRANSACTION, WORKERS, OPTIONS). Did you mean 'DATABASE'?",
        ),
        (
            ("clinic/settings.py", '"DURABLE": True', '"DURABLE": "yes"'),
            "settings.AURA[\"DURABLE\"] must be a bool, got str ('yes').",
        ),
        (
            ("clinic/settings.py", '"DURABLE": True', '"OPTIONS": {"workers": 2}'),
            "settings.AURA[\"OPTIONS\"] cannot set 'workers': Aura sets it from the apps and "
            'from AURA["DATABASE"], ["DURABLE"] and ["WORKERS"]. Remove it from OPTIONS.',
        ),
        (
            ("clinic/settings.py", '"DURABLE": True', '"OPTIONS": {"leese": 30}'),
            "settings.AURA[\"OPTIONS\"] has 'leese', which Platform does not take (it takes "
            "boundaries, catalog, completed_publications, dead_letters, event_store, "
            "handler_timeout, journal, lease, log_traffic, max_chain_depth, max_event_size, "
            "poll_interval). Did you mean 'lease'?",
        ),
        (
            ("clinic/settings.py", '"DATABASE": "default"', '"DATABASE": "defualt"'),
            "settings.AURA[\"DATABASE\"] is 'defualt', which DATABASES does not define (it "
            "defines default). Did you mean 'default'? Name the alias of the connection whose "
            "transactions Aura's events join.",
        ),
        (
            ("clinic/settings.py", '"DURABLE": True', '"DURABLE": True, "WORKERS": -1'),
            'settings.AURA["WORKERS"] must be None or a whole number of at least 0, got -1. '
            "None delivers after each commit in the publishing process; 0 only records "
            "(manage.py aura worker delivers); N runs N delivery threads.",
        ),
        (
            ("clinic/settings.py", '"DURABLE": True', '"DURABLE": False, "WORKERS": 0'),
            'settings.AURA["WORKERS"] is 0, which needs AURA["DURABLE"] = True (workers '
            "deliver the outbox's rows), but DURABLE is False. Set DURABLE to True, or remove "
            "WORKERS.",
        ),
        (
            (
                "clinic/settings.py",
                '"DURABLE": True',
                '"DURABLE": False, "REQUIRE_TRANSACTION": True',
            ),
            'settings.AURA["REQUIRE_TRANSACTION"] is True, which needs AURA["DURABLE"] = '
            "True (the outbox is what refuses a publish outside transaction.atomic()), but "
            "DURABLE is False. Set DURABLE to True, or remove REQUIRE_TRANSACTION.",
        ),
        (
            ("clinic/settings.py", '"DURABLE": True', '"OPTIONS": {"poll_interval": -1}'),
            'settings.AURA["OPTIONS"] is refused: poll_interval must be a number of seconds '
            "above 0 and below a day, or None (no delivery worker), got -1. Pass e.g. "
            "poll_interval=1.0; nothing was opened.",
        ),
    ],
    ids=[
        "unknown-dependency",
        "unimportable-aura-module",
        "aura-module-without-module",
        "legacy-as-module",
        "two-modules-one-name",
        "unknown-setting",
        "unknown-setting-lowercase",
        "wrong-setting-type",
        "platform-option-aura-owns",
        "platform-option-unknown",
        "database-alias-unknown",
        "workers-negative",
        "workers-without-durable",
        "require-transaction-without-durable",
        "platform-option-value",
    ],
)
def test_a_misdeclared_module_or_setting_stops_django_s_start_up(
    clinic: pytest.Pytester, change: tuple[str, str, str], message: str
) -> None:
    name, old, new = change
    path = clinic.path / name
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    done = manage(clinic.path, "aura", "modules")
    if not message:
        assert done.returncode == 0, done.stderr
        assert "legacy  (apps: visits2)" in done.stdout.splitlines()
        return
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    kind = "ConfigurationError" if name.endswith("settings.py") else "ModuleDefinitionError"
    assert last == f"aura.exceptions.{kind}: {message}"


def test_a_handler_attached_in_an_app_s_ready_is_checked_by_the_system_check(
    clinic: pytest.Pytester,
) -> None:
    # Handlers that use the ORM are attached in ready() (models are not importable earlier),
    # after Aura's own ready() when its app comes first: the system check runs after them all.
    (clinic.path / "clinic/visits/apps.py").write_text(
        textwrap.dedent(
            """
            from django.apps import AppConfig


            class Unregistered:
                pass


            class VisitsConfig(AppConfig):
                name = "clinic.visits"

                def ready(self):
                    from dataclasses import make_dataclass

                    from clinic.visits import module

                    Wrong = make_dataclass("Wrong", [("patient", int)])

                    def note(event: Wrong) -> None:
                        pass

                    module.subscribe("visit.booked", name="note")(note)
            """
        ).lstrip()
    )
    assert manage(clinic.path, "aura", "modules").returncode == 0  # the map itself is fine
    done = manage(clinic.path, "check")
    assert done.returncode == 1
    assert "aura: (aura.E001) Handler clinic.visits.apps.VisitsConfig.ready.<locals>.note" in (
        done.stderr
    )
    assert (
        "is annotated with Wrong, which is not a registered event contract. Decorate it with "
        "@event_contract(...), or annotate the parameter as dict." in done.stderr
    )
    assert "HINT: Fix the module's declaration; `manage.py aura modules` shows them all." in (
        done.stderr
    )


# --- the pytest-django harness, the middleware ---------------------------------------------------


def test_the_harness_records_the_project_s_platform_with_db_and_transactional_db(
    clinic: pytest.Pytester,
) -> None:
    clinic.makepyfile(
        test_flow="""
        import json

        import pytest
        from django.db import connection

        from aura.integrations.django import platform


        def book(client, **body):
            return client.post("/visits/", json.dumps(body), content_type="application/json")


        def test_with_db_a_delivery_waits_for_the_captured_commit(
            client, aura_platform, published_events, django_capture_on_commit_callbacks
        ):
            from clinic.billing import invoiced

            assert platform() is aura_platform  # views use the test's platform
            with django_capture_on_commit_callbacks(execute=True) as callbacks:
                response = book(client, patient=7)
                assert invoiced == []  # not committed yet: nothing delivered
            assert response.status_code == 200
            assert response.json()["source"] == "visits"  # the view ran as its app's module
            assert callbacks  # Aura's delivery waited for the commit, as Django's callbacks do
            published_events.assert_published("visit.booked", patient=7)
            assert invoiced == [7]


        def test_with_db_nothing_is_published_without_a_commit(
            client, aura_platform, published_events
        ):
            from clinic.billing import invoiced

            invoiced.clear()
            assert book(client, patient=8).status_code == 200
            # written in the test's transaction, which never commits: not published yet
            count = aura_platform.database.query_one("SELECT COUNT(*) AS n FROM aura_events")
            rows = aura_platform.database.query("SELECT data FROM aura_events")
            assert [row["data"] for row in rows] == ['{"patient":8}']
            assert published_events.events == []
            assert invoiced == []


        @pytest.mark.django_db(transaction=True)
        def test_with_transactional_db_commits_are_real(client, aura_platform, published_events):
            from clinic.billing import invoiced

            invoiced.clear()
            assert book(client, patient=9).status_code == 200
            assert invoiced == [9]  # delivered after the view's commit
            rows = aura_platform.database.query(
                "SELECT status FROM aura_publications ORDER BY status"
            )
            assert [row["status"] for row in rows] == ["COMPLETED"]


        @pytest.mark.django_db(transaction=True)
        def test_a_rollback_writes_and_delivers_nothing(client, aura_platform, published_events):
            from clinic.billing import invoiced

            invoiced.clear()
            with pytest.raises(RuntimeError, match="booking failed after the publish"):
                book(client, patient=10, fail=True)
            assert invoiced == []
            count = aura_platform.database.query_one("SELECT COUNT(*) AS n FROM aura_events")
            assert count["n"] == 0  # the earlier transactional test's rows are gone too


        @pytest.mark.django_db(transaction=True)
        def test_the_registry_records_the_view_s_call(client, service_calls):
            assert book(client, patient=500).status_code == 404
            [call] = service_calls.calls
            assert (call.caller_module, call.provider_module, call.service_name, call.method) == (
                "visits", "patients", "Directory", "exists"
            )


        @pytest.mark.django_db(transaction=True)
        @pytest.mark.aura_allow_handler_errors
        def test_a_failing_handler_leaves_a_dead_letter(client, aura_platform):
            assert book(client, patient=66).status_code == 200
            [letter] = aura_platform.bus.dead_letters()
            assert (letter.subscriber_module, letter.error_message) == (
                "billing",
                "cannot invoice patient 66",
            )


        def test_a_test_without_database_access_gets_db(aura_platform):
            assert connection.in_atomic_block  # pytest-django's db: the test's transaction
            assert platform() is aura_platform
        """
    )
    result = clinic.runpytest_subprocess("-q")
    result.assert_outcomes(passed=7)


def test_the_middleware_echoes_refuses_and_acts_for_the_user(clinic: pytest.Pytester) -> None:
    clinic.makepyfile(
        test_middleware="""
        import json

        import pytest
        from django.contrib.auth.models import User

        pytestmark = pytest.mark.django_db(transaction=True)  # events published: committed

        def test_a_valid_correlation_id_is_on_the_event_and_echoed(client, published_events):
            response = client.post(
                "/visits/", json.dumps({"patient": 3}), content_type="application/json",
                headers={"X-Correlation-ID": "req-42"},
            )
            assert response.headers["X-Correlation-ID"] == "req-42"
            [event] = published_events.events
            assert event.correlation_id == "req-42"
            assert event.metadata["user_id"] is None  # nobody logged in


        def test_without_one_a_new_id_is_made_and_echoed(client, published_events):
            response = client.post(
                "/visits/", json.dumps({"patient": 3}), content_type="application/json"
            )
            [event] = published_events.events
            assert response.headers["X-Correlation-ID"] == event.correlation_id
            assert len(event.correlation_id) == 36


        def test_an_invalid_one_is_answered_400_problem_json(client, published_events):
            response = client.post(
                "/visits/", json.dumps({"patient": 3}), content_type="application/json",
                headers={"X-Correlation-ID": "a b"},
            )
            assert response.status_code == 400
            assert response.headers["Content-Type"] == "application/problem+json"
            body = response.json()
            assert body["detail"] == (
                "Invalid X-Correlation-ID 'a b': expected 1 to 128 letters, digits or . _ : - "
                "(starting with a letter or digit). Send a UUID, or leave the header out to "
                "get a new id."
            )
            assert body["correlation_id"] == response.headers["X-Correlation-ID"] != "a b"
            assert published_events.events == []  # the view never ran


        def test_the_logged_in_user_is_on_the_events(client, published_events):
            user = User.objects.create_user("ada", password="x" * 12)
            client.force_login(user)
            client.post("/visits/", json.dumps({"patient": 3}), content_type="application/json")
            [event] = published_events.events
            assert event.metadata["user_id"] == user.pk


        def test_a_view_runs_as_its_app_s_module(client):
            assert client.get("/whoami/").json() == {"module": "visits"}
        """
    )
    result = clinic.runpytest_subprocess("-q")
    result.assert_outcomes(passed=5)


# --- manage.py aura ------------------------------------------------------------------------------


def test_dead_letters_are_listed_retried_and_purged(clinic: pytest.Pytester) -> None:
    project = clinic.path
    assert manage(project, "migrate", "-v", "0").returncode == 0
    book = (
        "import django, json; django.setup(); from django.db import transaction; "
        "from aura.integrations.django import platform; "
        'exec(\'with transaction.atomic():\\n platform().bus.publish("visit.booked", '
        '{"patient": 66}, "visits")\')'
    )
    done = script(project, book)
    assert done.returncode == 0, done.stderr
    listed = manage(project, "aura", "dead-letters", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[-1] == "1 dead letter."
    assert "billing" in lines[0]
    assert "cannot invoice patient 66" in lines[0]
    retried = manage(project, "aura", "dead-letters", "retry")
    assert retried.returncode == 1  # it fails again
    assert retried.stdout.splitlines() == [
        "Retried: 0 delivered, 1 failed again, 0 held back by the policy, 0 with no subscriber."
    ]
    assert retried.stderr.splitlines()[-1] == "CommandError: Some dead letters failed again."
    refused = manage(project, "aura", "dead-letters", "purge")
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "CommandError: aura dead-letters: Say what to purge: --all, --id ID (repeatable) or "
        "--older-than-days N."
    )
    both = manage(project, "aura", "dead-letters", "purge", "--all", "--id", "1")
    assert both.returncode == 2
    assert both.stderr.strip() == (
        "CommandError: aura dead-letters: purge takes one way of choosing what it drops, got "
        "--all and --id. Pass --all (every dead letter), --id ID (repeatable: those) or "
        "--older-than-days N (those last failed N days ago or more); nothing was purged."
    )
    unknown = manage(project, "aura", "dead-letters", "purge", "--id", "nosuch")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (
        "CommandError: aura dead-letters: No dead letter with the id 'nosuch' in the "
        "platform's database; nothing was purged. 'manage.py aura dead-letters list' prints "
        "the ids there are."
    )
    assert manage(project, "aura", "dead-letters", "list").stdout.splitlines()[-1] == (
        "1 dead letter."
    )
    wrong = manage(project, "aura", "dead-letters", "list", "--older-than-days", "-1")
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == (
        "CommandError: aura dead-letters: --older-than-days must be a number of days from 0 to "
        "36525 (a century), got -1.0. Pass e.g. --older-than-days 7 (those last failed a week "
        "ago or more), or --all."
    )
    assert manage(project, "aura", "dead-letters", "list").stdout.splitlines()[-1] == (
        "1 dead letter."  # a refused command changed nothing
    )
    ignored = manage(project, "aura", "dead-letters", "purge", "--all", "--max-attempts", "3")
    assert ignored.returncode == 2
    assert ignored.stderr.strip() == (
        "CommandError: aura dead-letters: --max-attempts is for 'retry' alone: 'dead-letters "
        "purge' would ignore it. Drop it, or run 'manage.py aura dead-letters retry ...'."
    )
    held = manage(project, "aura", "dead-letters", "retry", "--max-attempts", "2")
    assert held.returncode == 0, held.stderr  # its 2 attempts are spent: the policy holds it
    assert held.stdout.splitlines() == [
        "Retried: 0 delivered, 0 failed again, 1 held back by the policy, 0 with no subscriber."
    ]
    stalled = manage(project, "aura", "worker", "--poll", "0")
    assert stalled.returncode == 2
    assert stalled.stderr.strip() == (
        "CommandError: --poll must be seconds above 0 and below a day, got 0.0. Pass e.g. --poll 1."
    )
    purged = manage(project, "aura", "dead-letters", "purge", "--all")
    assert purged.stdout.splitlines() == ["Purged 1 dead letter."]
    assert manage(project, "aura", "dead-letters", "list").stdout.splitlines() == [
        "0 dead letters."
    ]


def test_the_first_use_failing_inside_atomic_leaves_aura_s_tables(
    clinic: pytest.Pytester,
) -> None:
    # The process's platform is built by its first use, often inside a view's atomic block:
    # its schema is made apart, so a view that then fails does not take Aura's tables with it.
    project = clinic.path
    assert manage(project, "migrate", "-v", "0").returncode == 0
    code = textwrap.dedent(
        """
        import django

        django.setup()
        from django.db import connection, transaction

        from aura.integrations.django import platform

        try:
            with transaction.atomic():
                platform().bus.publish("visit.booked", {"patient": 1}, "visits")
                raise RuntimeError("the first view failed")
        except RuntimeError:
            pass
        with transaction.atomic():
            platform().bus.publish("visit.booked", {"patient": 2}, "visits")
        from clinic.billing import invoiced

        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM aura_events")
            print(invoiced, cursor.fetchone()[0])
        """
    )
    done = script(project, code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[2]", "1"]  # the second event delivered; the first gone
    assert "no such table" not in done.stderr


def test_manage_py_aura_worker_delivers_what_web_processes_only_record(
    clinic: pytest.Pytester,
) -> None:
    project = clinic.path
    settings = project / "clinic/settings.py"
    settings.write_text(settings.read_text().replace('"DURABLE": True', '"WORKERS": 0'))
    billing = project / "clinic/billing/__init__.py"
    billing.write_text(
        billing.read_text().replace(
            'invoiced.append(data["patient"])',
            'invoiced.append(data["patient"])\n'
            "    import pathlib\n"
            "    with pathlib.Path('invoiced.txt').open('a') as out:\n"
            "        out.write(f\"{data['patient']}\\n\")",
        )
    )
    assert manage(project, "migrate", "-v", "0").returncode == 0
    publish = (
        "import django; django.setup(); from django.db import transaction; "
        "from aura.integrations.django import platform; "
        "exec('for n in range(5):\\n with transaction.atomic():\\n  "
        'platform().bus.publish("visit.booked", {"patient": n}, "visits")\')'
    )
    done = script(project, publish)
    assert done.returncode == 0, done.stderr
    assert not (project / "invoiced.txt").exists()  # WORKERS=0: recorded, not delivered
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "aura", "worker", "--threads", "2", "--poll", "0.2"],
        cwd=project,
        env=environment(project),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            path = project / "invoiced.txt"
            if path.exists() and len(path.read_text().split()) >= 5:
                break
            time.sleep(0.1)
        time.sleep(0.5)  # a duplicate would show up meanwhile
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert sorted(int(n) for n in (project / "invoiced.txt").read_text().split()) == list(range(5))
    assert out.splitlines()[0].startswith("Delivering with 2 threads on ")
    assert out.splitlines()[-1] == (
        "Stopped: what was being delivered finished or was handed back."
    )


def test_manage_py_aura_check_verifies_the_modules_wiring(clinic: pytest.Pytester) -> None:
    project = clinic.path
    (project / "pyproject.toml").write_text(CLINIC_MAP)
    done = manage(project, "aura", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "aura check: no violations in 3 modules (8 files)."
    # the platform verified is the apps' modules: a subscription without a contract is found
    billing = project / "clinic/billing/__init__.py"
    billing.write_text(
        billing.read_text() + "\n\n@module.subscribe('visit.cancelled', name='void')\n"
        "def void(data):\n    pass\n"
    )
    done = manage(project, "aura", "check")
    assert done.returncode == 1
    finding = next(line for line in done.stdout.splitlines() if "no event contract" in line)
    assert "billing subscribes void to 'visit.cancelled', which has no event contract" in finding
    # and, from the source, what the map alone could not judge: the apps' modules declare what
    # they publish (module.publishes), and none publishes visit.cancelled
    subscribed = next(line for line in done.stdout.splitlines() if "subscribes to" in line)
    assert subscribed.endswith(
        "billing subscribes to visit.cancelled; no module declares it publishes "
        "'visit.cancelled': correct the event type, or declare it in the publishing module's "
        "publishes"
    )
    # placed at the handler's @subscribe line, from the project's root
    decorator = (
        billing.read_text().splitlines().index("@module.subscribe('visit.cancelled', name='void')")
    )
    assert finding.startswith(f"clinic/billing/__init__.py:{decorator + 1}: ")
    assert done.stderr.strip() == "CommandError: aura check found problems (above)."
    unusable = manage(project, "aura", "check", "--update-baseline")  # no --baseline FILE
    assert unusable.returncode == 2
    assert unusable.stdout.strip() == "aura check: error: --update-baseline needs --baseline FILE."
    assert unusable.stderr.strip() == "CommandError: aura check could not run (above)."
    static = manage(project, "aura", "check", "--static")  # the map only: nothing imported
    assert static.returncode == 0, static.stdout
    views = project / "clinic/billing/invoices/views.py"
    views.write_text("from clinic.visits.views import book\n")
    done = manage(project, "aura", "check", "--static")
    assert done.returncode == 1
    assert "clinic/billing/invoices/views.py:1" in done.stdout
    assert done.stderr.strip() == "CommandError: aura check found problems (above)."


def test_dead_letters_on_a_database_without_aura_or_out_of_reach_change_nothing(
    clinic: pytest.Pytester,
) -> None:
    import sqlite3

    project = clinic.path
    legacy = project / "legacy.db"
    with sqlite3.connect(legacy) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
    connection.close()
    before = legacy.read_bytes()
    settings = project / "clinic/settings.py"
    original = settings.read_text()
    settings.write_text(
        original.replace(
            '    "default": {"ENGINE"',
            f'    "legacy": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {str(legacy)!r}}},\n'
            '    "default": {"ENGINE"',
        ).replace('"DATABASE": "default"', '"DATABASE": "legacy"')
    )
    note = (
        f"Django's database 'legacy' ({legacy}) holds no Aura tables: no durable platform has "
        "run on it yet (AURA['DATABASE'] names the alias). Nothing was created."
    )
    for action, printed in (
        (["list"], "0 dead letters."),
        (["purge", "--all"], "Purged 0 dead letters."),
        (
            ["retry"],
            "Retried: 0 delivered, 0 failed again, 0 held back by the policy, 0 with no "
            "subscriber.",
        ),
    ):
        done = manage(project, "aura", "dead-letters", *action)
        assert (done.returncode, done.stdout.strip(), done.stderr.strip()) == (0, printed, note)
    named = manage(project, "aura", "dead-letters", "purge", "--id", "7")
    assert named.returncode == 2
    assert named.stderr.strip() == (
        f"CommandError: aura dead-letters: No dead letter with the id '7' in Django's database "
        f"'legacy' ({legacy}); nothing was purged. 'manage.py aura dead-letters list' prints "
        "the ids there are."
    )
    assert legacy.read_bytes() == before  # no Aura table made in it

    gone = project / "no-such-folder" / "clinic.db"
    settings.write_text(original.replace('str(BASE / "clinic.db")', repr(str(gone))))
    unreachable = manage(project, "aura", "dead-letters", "list")
    assert unreachable.returncode == 2
    assert unreachable.stderr.strip() == (
        "CommandError: aura dead-letters: Django's database could not be used "
        "(OperationalError: unable to open database file). Check DATABASES and "
        "AURA['DATABASE'] in the settings, and that the server is running; nothing was changed."
    )
    assert not gone.parent.exists()


def test_manage_py_aura_check_reports_module_code_the_map_does_not_cover(
    clinic: pytest.Pytester,
) -> None:
    project = clinic.path
    pyproject = project / "pyproject.toml"
    # billing is a module of the apps, but the map forgot it: its imports would go unchecked
    pyproject.write_text(WITHOUT_BILLING)
    done = manage(project, "aura", "check")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.splitlines()[-2:] == [
        "clinic/billing/__init__.py:1: 'billing' is a module of the platform, but the module map "
        "does not "
        "declare it: its imports and lookups are not checked (those of 2 modules are); declare "
        "it: add "
        "[tool.aura.boundaries.modules.billing] with package = 'clinic.billing' to "
        "pyproject.toml",
        "aura check: 1 violation in 2 modules (3 files).",
    ]
    # the same package under another name in the map
    pyproject.write_text(
        WITHOUT_BILLING + '[tool.aura.boundaries.modules.invoicing]\npackage = "clinic.billing"\n'
    )
    done = manage(project, "aura", "check")
    assert done.returncode == 1, done.stdout + done.stderr
    conflicts = [line for line in done.stdout.splitlines() if "invoicing" in line]
    assert conflicts == [
        "pyproject.toml:7: the platform's module 'billing' is the package clinic.billing, "
        "which the module map declares as module 'invoicing' (pyproject.toml "
        "[tool.aura.boundaries.modules.invoicing]); call the module by one name: rename the "
        "map's table to 'billing'",
    ]
    # an app joined to billing from outside its package: the map checks none of its code
    pyproject.write_text(CLINIC_MAP)
    refunds = project / "clinic" / "refunds"
    refunds.mkdir()
    (refunds / "__init__.py").write_text("")
    (refunds / "apps.py").write_text(
        "from django.apps import AppConfig\n\n\nclass RefundsConfig(AppConfig):\n"
        '    name = "clinic.refunds"\n    aura_module = "clinic.billing"\n'
    )
    settings = project / "clinic" / "settings.py"
    settings.write_text(
        settings.read_text().replace('"clinic.legacy",', '"clinic.legacy",\n    "clinic.refunds",')
    )
    done = manage(project, "aura", "check")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.splitlines()[-2:] == [
        "pyproject.toml:7: clinic.refunds is code of module 'billing' on the platform, but the "
        "module map places 'billing' at clinic.billing (pyproject.toml "
        "[tool.aura.boundaries.modules.billing]) and checks none of it; move clinic.refunds "
        "under clinic.billing, or make it a module of its own, on the platform and in the map",
        "aura check: 1 violation in 3 modules (8 files).",
    ]


def test_a_dependency_on_an_app_that_is_no_module_says_so(clinic: pytest.Pytester) -> None:
    (clinic.path / "clinic/patients/apps.py").write_text(
        "from django.apps import AppConfig\n\n\nclass PatientsConfig(AppConfig):\n"
        '    name = "clinic.patients"\n    aura_module = None\n'
    )
    done = manage(clinic.path, "aura", "modules")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "aura.exceptions.ModuleDefinitionError: Module 'visits' (app 'visits') depends on "
        "'patients', which the app 'patients' declares, but its AppConfig sets aura_module = "
        "None (the app is no module). Remove aura_module = None from it, or fix depends_on."
    )


def test_plain_aura_check_on_a_django_project_points_to_manage_py(
    clinic: pytest.Pytester,
) -> None:
    project = clinic.path
    patients = project / "clinic/patients/__init__.py"  # a module that imports a model
    patients.write_text("from django.contrib.auth.models import User\n" + patients.read_text())
    done = python(project, "-m", "aura", "check", "--modules", "clinic")
    assert done.returncode == 1, done.stdout + done.stderr
    finding = next(line for line in done.stdout.splitlines() if "cannot be built" in line)
    assert finding.endswith(
        "; the modules are a Django project's apps: run python manage.py aura check (the app "
        "aura.integrations.django in INSTALLED_APPS), which loads the settings"
    )


def test_an_event_published_but_not_declared_is_found_in_the_source(
    clinic: pytest.Pytester,
) -> None:
    project = clinic.path
    (project / "pyproject.toml").write_text(CLINIC_MAP)
    views = project / "clinic/visits/views.py"
    views.write_text(
        views.read_text() + "\n\ndef cancel(request):\n"
        '    platform().bus.publish("visit.cancelled", {"visit": 1})\n'
    )
    line = len(views.read_text().splitlines())
    done = manage(project, "aura", "check")
    assert done.returncode == 1, done.stdout + done.stderr
    assert [entry for entry in done.stdout.splitlines() if "visit.cancelled" in entry] == [
        f"clinic/visits/views.py:{line}: visits publishes visit.cancelled; declare it: add "
        "'visit.cancelled' to publishes of visits (clinic/visits/__init__.py)"
    ]


def test_settings_that_work_together_are_accepted() -> None:
    from types import SimpleNamespace

    from aura.integrations.django.runtime import settings_of

    def chosen(aura: dict[str, object], databases: object = None) -> dict[str, object]:
        databases = {"default": {}} if databases is None else databases
        return settings_of(SimpleNamespace(AURA=aura, DATABASES=databases))

    # not durable: no workers, no transaction required (False is no requirement)
    assert chosen({"DURABLE": False, "REQUIRE_TRANSACTION": False})["WORKERS"] is None
    # workers deliver a journal of the project's own, durable or not
    journal = object()
    assert chosen({"DURABLE": False, "WORKERS": 2, "OPTIONS": {"journal": journal}})["OPTIONS"] == {
        "journal": journal
    }
    # no DATABASES at all: nothing to check the alias against (the platform's build says so)
    assert chosen({"DATABASE": "replica"}, databases={})["DATABASE"] == "replica"
