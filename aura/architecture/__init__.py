"""Architecture enforcement for any Python codebase: a static module map, checks, docs, selection.

- :mod:`aura.architecture.modulemap`: the module map, from ``[tool.aura.boundaries]`` and from
  ``Module(...)`` declarations parsed (never imported);
- :mod:`aura.architecture.sources`: the cached source scan of imports and string couplings;
- :mod:`aura.architecture.boundaries`: the boundary checks of the map (dependencies, published
  interfaces, layers, cycles, events, unparseable files);
- :mod:`aura.architecture.contracts`: ``ModuleDependencyContract``, the import-linter contract
  type that runs those checks under ``lint-imports``;
- :mod:`aura.architecture.linting`: runs a project's other import-linter contracts in-process, on
  one graph, with deterministic reports;
- :mod:`aura.architecture.scanning` and :mod:`aura.architecture.rules`: what a running
  platform's modules look up, read from their source (``unused-dependency``);
- :mod:`aura.architecture.commands`: ``aura check``, ``aura modules`` and ``aura docs``;
- :mod:`aura.architecture.report` and :mod:`aura.architecture.sarif`: the report of
  ``aura check`` (its findings, as :class:`aura.findings.Finding`), baselines, text, JSON, SARIF;
- :mod:`aura.architecture.docs`: the generated architecture documentation;
- :mod:`aura.architecture.selection` and :mod:`aura.architecture.pytest_plugin`: the tests a
  change needs (``--aura-changed``), and the contracts as pytest items
  (``--aura-architecture``).

Nothing is imported here: import-linter is needed only by the modules that use it.
"""
