"""``manage.py aura``: Aura's commands on the Django project's own platform.

- ``manage.py aura modules``: the modules the apps declare, their apps, dependencies, services,
  events published and handled.
- ``manage.py aura check [...]``: ``aura check`` run in the current directory (the module
  map and import contracts of ``pyproject.toml``), verifying the platform of the apps' modules
  (``--static``: the map only); exit status 1 on a violation, 2 on an error.
- ``manage.py aura dead-letters list|retry|purge``: the dead letters of Django's database.
- ``manage.py aura worker [--threads N]``: delivery workers on Django's database until
  interrupted (``AURA["WORKERS"] = 0`` leaves the web processes only recording).
"""

from __future__ import annotations

import io
import signal
import sys
import threading
from typing import Any, ClassVar

from django.core.management.base import (  # type: ignore[import-untyped]
    BaseCommand,
    CommandError,
)
from django.db import DatabaseError, connections  # type: ignore[import-untyped]

from aura.dead_letters import (
    RetryReport,
    check_letter_options,
    check_letters_exist,
    listing,
    purge_chosen,
    purged,
    retry_policy_of,
)
from aura.exceptions import AuraError
from aura.integrations.django import runtime
from aura.publications import is_poll_interval

__all__ = ["Command"]


class Command(BaseCommand):  # type: ignore[misc]  # Django is untyped
    """``manage.py aura ACTION``: modules, check, dead-letters, worker."""

    help = "Aura: the modules, their boundaries, dead letters and delivery workers."
    # Not Django's system checks first: `aura modules` must show a misdeclared module's map
    # (aura.E001 points here), and the other actions build, and so check, the platform.
    requires_system_checks: ClassVar[list[str]] = []

    def add_arguments(self, parser: Any) -> None:
        """The actions and their options."""
        from aura.architecture.commands import add_check_arguments

        actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        actions.add_parser("modules", help="print the modules the installed apps declare")
        check = actions.add_parser(
            "check", help="check the boundaries (aura check), then verify the modules' wiring"
        )
        add_check_arguments(check)
        letters = actions.add_parser("dead-letters", help="list, retry or purge dead letters")
        letters.add_argument("what", choices=("list", "retry", "purge"), help="what to do")
        letters.add_argument(
            "--max-attempts",
            type=int,
            help=(
                "retry: only letters with fewer attempts, the first included (default: every "
                "letter)"
            ),
        )
        letters.add_argument("--backoff", type=float, help="retry: first wait, seconds (0)")
        letters.add_argument(
            "--id", dest="ids", metavar="ID", action="append", help="purge: this dead letter"
        )
        letters.add_argument("--older-than-days", type=float, help="purge: those older than this")
        letters.add_argument("--all", action="store_true", help="purge: every dead letter")
        worker = actions.add_parser("worker", help="deliver what the processes publish")
        worker.add_argument("--threads", type=int, default=2, help="delivery threads (default 2)")
        worker.add_argument(
            "--poll", type=float, default=1.0, help="seconds between looks for due work"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the chosen action; Aura's errors become a ``CommandError`` (exit status 2)."""
        action = options["action"]
        try:
            if action == "modules":
                self._modules()
            elif action == "check":
                self._check(options)
            elif action == "dead-letters":
                self._dead_letters(options)
            else:
                self._worker(options)
        except AuraError as error:
            raise CommandError(f"aura {action}: {error}", returncode=2) from None
        except DatabaseError as error:  # the server down, a wrong name or password in DATABASES
            reason = " ".join(str(error).split()) or type(error).__name__
            raise CommandError(
                f"aura {action}: Django's database could not be used ({type(error).__name__}: "
                f"{reason}). Check DATABASES and AURA['DATABASE'] in the settings, and that the "
                "server is running; nothing was changed.",
                returncode=2,
            ) from None

    # --- actions ----------------------------------------------------------------------------

    def _modules(self) -> None:
        declared = runtime.declaration()
        for module in declared.modules:
            apps = [label for label, name in declared.apps.items() if name == module.name]
            lines = [f"{module.name}  (apps: {', '.join(apps)})"]
            lines.append(f"  depends on: {', '.join(module.depends_on) or 'nothing'}")
            services = [service.name for service in module.services]
            lines.append(f"  services: {', '.join(services) or 'none'}")
            lines.append(f"  publishes: {', '.join(module.published) or 'nothing'}")
            handled = sorted({handler.event_type for handler in module.handlers})
            lines.append(f"  handles: {', '.join(handled) or 'nothing'}")
            self.stdout.write("\n".join(lines))
        count = len(declared.modules)
        self.stdout.write(f"{count} module{'s' if count != 1 else ''}.")

    def _check(self, options: dict[str, Any]) -> None:
        import argparse

        from aura.architecture.commands import run_check

        arguments = argparse.Namespace(
            **{
                key: options.get(key)
                for key in ("format", "baseline", "update_baseline", "modules", "static", "config")
            }
        )
        arguments.format = arguments.format or "text"
        # The platform verified is the apps' modules, wired on a throwaway in-memory platform:
        # nothing of Django's database is opened.
        out, err = io.StringIO(), io.StringIO()
        status = run_check(
            arguments,
            out,
            err,
            modules=lambda: list(runtime.declaration().modules),
            packages=lambda: dict(runtime.declaration().packages),  # each app's package
        )
        for text, stream in ((out.getvalue(), self.stdout), (err.getvalue(), self.stderr)):
            if text:
                stream.write(text.rstrip("\n"))
        if status:
            # 1: the check ran and found violations; 2: it could not run (usage, configuration)
            what = "found problems" if status == 1 else "could not run"
            raise CommandError(f"aura check {what} (above).", returncode=status)

    def _dead_letters(self, options: dict[str, Any]) -> None:
        what = options["what"]
        days = options["older_than_days"]
        check_letter_options(
            what,
            older_than_days=days,
            max_attempts=options["max_attempts"],
            backoff=options["backoff"],
            every=options["all"],
            ids=options["ids"],
            command="manage.py aura dead-letters",
        )
        missing = _no_aura_tables()
        if missing is not None:  # no platform ran there: no letters, and nothing is created
            if what == "purge":
                check_letters_exist(
                    [], options["ids"], command="manage.py aura dead-letters", where=missing
                )
            self.stdout.write(
                {
                    "list": "\n".join(listing(())),
                    "purge": purged(0),
                    "retry": RetryReport((), (), ()).summary(),
                }[what]
            )
            self.stderr.write(
                f"{missing[0].upper()}{missing[1:]} holds no Aura tables: no durable platform "
                "has run on it yet (AURA['DATABASE'] names the alias). Nothing was created."
            )
            return
        # No worker and no start: this process does what it is asked and leaves the rest.
        with runtime.build_platform(poll_interval=None, workers=None, durable=True) as platform:
            if what == "list":
                self.stdout.write("\n".join(listing(platform.bus.dead_letters())))
            elif what == "retry":
                policy = retry_policy_of(options["max_attempts"], options["backoff"])
                report = platform.bus.retry_dead_letters(policy)
                self.stdout.write(report.summary())
                problem = report.problem()
                if problem is not None:
                    raise CommandError(problem, returncode=1)
            else:
                dropped = purge_chosen(
                    [platform.bus.dead_letter_store],
                    ids=options["ids"],
                    every=options["all"],
                    older_than_days=days,
                    command="manage.py aura dead-letters",
                    where="the platform's database",
                )
                self.stdout.write(purged(dropped))

    def _worker(self, options: dict[str, Any]) -> None:
        threads = options["threads"]
        if threads < 1:
            raise CommandError(
                f"--threads must be at least 1, got {threads}. Pass e.g. --threads 2.",
                returncode=2,
            )
        if not is_poll_interval(options["poll"]):
            raise CommandError(
                f"--poll must be seconds above 0 and below a day, got {options['poll']}. Pass "
                "e.g. --poll 1.",
                returncode=2,
            )
        stop = threading.Event()
        previous = {
            number: signal.signal(number, lambda *_: stop.set())
            for number in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            with runtime.build_platform(
                durable=True, workers=threads, poll_interval=options["poll"]
            ) as platform:
                platform.start()
                self.stdout.write(
                    f"Delivering with {threads} thread{'s' if threads != 1 else ''} on "
                    f"{platform.database.path}; Ctrl-C (SIGINT) or SIGTERM stops."
                )
                sys.stdout.flush()
                stop.wait()
            self.stdout.write("Stopped: what was being delivered finished or was handed back.")
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


def _no_aura_tables() -> str | None:
    """Django's database as a message names it (``Django's database 'default' (clinic.db)``)
    when it holds no Aura tables, else ``None``: building a platform there would create them,
    for a command that only reads or drops dead letters."""
    from django.conf import settings  # type: ignore[import-untyped]

    alias = runtime.settings_of(settings)["DATABASE"]
    if alias not in connections:
        return None  # the platform names the aliases there are
    connection = connections[alias]
    if "aura_publications" in connection.introspection.table_names():
        return None
    return f"Django's database {alias!r} ({connection.settings_dict.get('NAME')})"
