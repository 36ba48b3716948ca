"""Architecture enforcement for Aura platforms: import-linter contracts, checks and docs.

- :mod:`aura.architecture.contracts`: ``ModuleDependencyContract``, an import-linter contract type
  that checks string-based coupling (service lookups, subscriptions) against declarations;
- :mod:`aura.architecture.scanning`: the source scan for ``get_service``, ``resolve`` and
  ``subscribe`` strings;
- :mod:`aura.architecture.rules`: the static rules, those strings judged against declarations;
- :mod:`aura.architecture.linting`: runs a project's import-linter contracts in-process, on one
  graph, with deterministic reports;
- :mod:`aura.architecture.pytest_plugin`: the contracts as pytest items (``--aura-architecture``);
- :mod:`aura.architecture.commands`: ``aura check`` and ``aura docs``;
- :mod:`aura.architecture.report`: the report of ``aura check`` (its findings, as
  :class:`aura.findings.Finding`), baselines, text and JSON;
- :mod:`aura.architecture.docs`: the generated architecture documentation.

Nothing is imported here: import-linter is needed only by the modules that use it.
"""
