"""``python -m aura`` runs the ``aura`` command."""

from aura.cli import main

raise SystemExit(main())
