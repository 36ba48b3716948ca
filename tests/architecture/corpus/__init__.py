"""Planted projects: one small codebase per kind of boundary violation, kept as data.

Each ``<case>.txt`` here holds a whole project, file after file, each under a header line
``==> path <==`` (as ``head`` prints several files). A header ``==> path (fixed) <==`` gives
that file's content in the *fixed* variant of the project: the same code with the declaration
added or the import made through the published API, which must check clean. Text before the
first header describes the case. The planted code is never imported or collected by pytest:
it is not in ``.py`` files until :func:`build` writes it into a temporary folder.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["CORPUS", "build", "cases", "files"]

CORPUS = Path(__file__).parent
_HEADER = re.compile(r"^==> (?P<path>\S+)(?P<fixed> \(fixed\))? <==$")


def cases() -> list[str]:
    """The name of every planted project."""
    return sorted(path.stem for path in CORPUS.glob("*.txt"))


def files(case: str, *, fixed: bool = False) -> dict[str, str]:
    """The files of ``case`` (path: content), planted or fixed.

    A file's first line is the line after its header, so the line numbers the tests expect
    are the ones read here; blank lines at the end of a file are dropped.
    """
    planted: dict[str, list[str]] = {}
    repaired: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in (CORPUS / f"{case}.txt").read_text(encoding="utf-8").splitlines():
        header = _HEADER.match(line)
        if header is not None:
            current = []
            (repaired if header["fixed"] else planted)[header["path"]] = current
        elif current is not None:
            current.append(line)
    chosen = {**planted, **repaired} if fixed else planted
    return {path: _text(lines) for path, lines in chosen.items()}


def _text(lines: list[str]) -> str:
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return "".join(f"{line}\n" for line in lines)


def build(case: str, root: Path, *, fixed: bool = False) -> Path:
    """Write ``case`` (planted, or fixed) under ``root``; return ``root``."""
    for relative, content in files(case, fixed=fixed).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return root
