"""The source scan: imports and string couplings read by parsing, once per file, cached.

Nothing scanned is imported or run. A file that cannot be parsed gives its error and line; the
cache (``.aura_cache/`` under the project) is reused while a file's size and modification time
stay the same, and never trusted when it is damaged.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.process
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aura.architecture import sources
from aura.architecture.sources import (
    CACHE_DIR,
    Call,
    FileScan,
    Import,
    SourceFile,
    dotted_name,
    scan_files,
    scan_source,
)

NAMES = frozenset({"get_service", "resolve", "subscribe", "publish"})


def scan(
    source: str | bytes,
    dotted: str = "shop.billing.invoices",
    *,
    package: bool = False,
    names: frozenset[str] = NAMES,
) -> FileScan:
    return scan_source(source, "invoices.py", dotted, package=package, names=names)


# --- imports ---------------------------------------------------------------------------------


def test_absolute_imports_are_read_with_their_line_and_names() -> None:
    source = (
        "import os\n"
        "import shop.users.api as users_api, shop.catalog\n"
        "from shop.users import api, find_user\n"
        "from shop.users.models import *\n"
    )

    assert scan(source).imports == (
        Import(1, "os"),
        Import(2, "shop.users.api"),
        Import(2, "shop.catalog"),
        Import(3, "shop.users", ("api", "find_user")),
        Import(4, "shop.users.models"),
    )


@pytest.mark.parametrize(
    ("statement", "module"),
    [
        ("from . import tax", "shop.billing"),
        ("from .tax import rate", "shop.billing.tax"),
        ("from .. import users", "shop"),
        ("from ..users.api import find_user", "shop.users.api"),
    ],
)
def test_relative_imports_of_a_module_start_at_its_package(statement: str, module: str) -> None:
    (found,) = scan(statement, "shop.billing.invoices").imports

    assert found.module == module


@pytest.mark.parametrize(
    ("statement", "module"),
    [
        ("from . import invoices", "shop.billing"),
        ("from .invoices import Invoice", "shop.billing.invoices"),
        ("from .. import users", "shop"),
        ("from ..users import find_user", "shop.users"),
    ],
)
def test_relative_imports_of_a_package_start_at_the_package_itself(
    statement: str, module: str
) -> None:
    (found,) = scan(statement, "shop.billing", package=True).imports

    assert found.module == module


def test_relative_imports_at_every_level_of_a_deep_module() -> None:
    source = (
        "from . import b\n"
        "from .. import c\n"
        "from ...d import e\n"
        "from .... import f\n"
        "from ....g.h import i\n"
    )

    assert [item.module for item in scan(source, "root.one.two.three.leaf").imports] == [
        "root.one.two.three",
        "root.one.two",
        "root.one.d",
        "root",
        "root.g.h",
    ]


@pytest.mark.parametrize(
    ("statement", "dotted", "package"),
    [
        ("from ... import anything", "shop.billing.invoices", False),
        ("from ...elsewhere import anything", "shop.billing.invoices", False),
        ("from .. import anything", "shop", True),
        ("from . import anything", "toplevel", False),
    ],
)
def test_a_relative_import_beyond_the_top_level_package_is_dropped(
    statement: str, dotted: str, package: bool
) -> None:
    # Python refuses it too ("attempted relative import beyond top-level package").
    assert scan(statement, dotted, package=package).imports == ()


def test_which_from_import_names_are_submodules_is_left_to_the_checks() -> None:
    (found,) = scan("from shop.users import api as public, find_user\n").imports

    assert found == Import(1, "shop.users", ("api", "find_user"))


def test_imports_are_found_in_every_block_where_code_runs() -> None:
    source = """\
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    import a
else:
    import b
def f():
    import c
    async def g():
        import d
class K:
    import e
    def m(self):
        try:
            import f
        except ImportError:
            import g
        else:
            import h
        finally:
            import i
with open("x") as handle:
    import j
for _ in ():
    import k
else:
    import l
while False:
    import m
match 1:
    case 1:
        import n
try:
    pass
except* ValueError:
    import o
"""

    assert [item.module for item in scan(source).imports] == [
        "typing",
        *"abcdefghijklmno",
    ]


# --- couplings -------------------------------------------------------------------------------


def test_calls_are_recorded_only_for_the_names_asked() -> None:
    source = (
        'registry.get_service("users", "UserService")\n'
        'container.resolve("user_service")\n'
        'bus.publish("invoice.paid", {})\n'
    )

    assert scan(source, names=frozenset({"get_service"})).calls == (
        Call(1, "registry.get_service", ("users", "UserService")),
    )
    assert scan(source, names=frozenset()).calls == ()


def test_a_dotted_coupling_name_matches_the_end_of_the_called_expression() -> None:
    source = (
        'apps.get_model("billing.Invoice")\n'
        'django.apps.get_model("billing.Invoice")\n'
        'registry.get_model("billing.Invoice")\n'
        'get_model("billing.Invoice")\n'
        'myapps.get_model("billing.Invoice")\n'
    )

    calls = scan(source, names=frozenset({"apps.get_model"})).calls

    assert [(call.line, call.name) for call in calls] == [
        (1, "apps.get_model"),
        (2, "django.apps.get_model"),
    ]


def test_a_plain_coupling_name_matches_any_call_ending_with_it() -> None:
    source = 'ForeignKey("billing.Invoice")\nmodels.ForeignKey(to="users.User")\nmake()()\n'

    calls = scan(source, names=frozenset({"ForeignKey"})).calls

    assert calls == (
        Call(1, "ForeignKey", ("billing.Invoice",)),
        Call(2, "models.ForeignKey", (), (("to", "users.User"),)),
    )


def test_only_string_arguments_are_kept_and_others_are_none() -> None:
    source = (
        "registry.get_service(pick(), 'UserService', 3, name)\n"
        "registry.get_service(module_name='users', service_name=f'{x}', **extra)\n"
    )

    assert scan(source).calls == (
        Call(1, "registry.get_service", (None, "UserService", None, None)),
        Call(2, "registry.get_service", (), (("module_name", "users"),)),
    )


def test_module_level_string_constants_stand_for_their_value() -> None:
    source = """\
USERS = "users"
SERVICE: str = "UserService"
TWICE = "users"
TWICE = "billing"
LOCAL = "users"
UNPACKED = "users"
UNPACKED, OTHER = pick()
GROWN = "users"
GROWN += "_v2"
DECLARED: str
DECLARED = "users"
registry.get_service(USERS, SERVICE)
registry.get_service(TWICE, "UserService")
registry.get_service(UNPACKED, "UserService")
registry.get_service(GROWN, "UserService")
registry.get_service(DECLARED, "UserService")
def lookup():
    INNER = "users"
    registry.get_service(INNER, "UserService")
    registry.get_service(LOCAL, "UserService")
"""

    assert [call.args for call in scan(source).calls] == [
        ("users", "UserService"),
        (None, "UserService"),
        (None, "UserService"),
        (None, "UserService"),
        ("users", "UserService"),
        (None, "UserService"),
        ("users", "UserService"),
    ]


def test_calls_are_found_in_decorators_and_nested_code() -> None:
    source = """\
@module.subscribe("user.registered")
def on_registered(data): ...

class Handlers:
    def wire(self):
        return lambda: self.bus.subscribe(event_type="user.deactivated", handler=print)
"""

    assert scan(source).calls == (
        Call(1, "module.subscribe", ("user.registered",)),
        Call(6, "self.bus.subscribe", (), (("event_type", "user.deactivated"),)),
    )


def test_a_call_gives_the_keyword_before_the_position() -> None:
    call = Call(1, "get_service", ("users", None), (("service_name", "UserService"),))

    assert call.argument(0, "module_name") == "users"
    assert call.argument(1, "service_name") == "UserService"
    assert call.argument(5, None) is None
    assert call.argument(None, "to") is None


def test_a_file_without_any_coupling_name_is_only_read_for_imports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    walked: list[object] = []
    monkeypatch.setattr(sources, "_calls", lambda *args: walked.append(args) or iter(()))

    found = scan("import shop.users\nx = 1\n")

    assert found == FileScan(imports=(Import(1, "shop.users"),))
    assert walked == []


# --- files that cannot be read -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "error", "line"),
    [
        ("x = 1\ntype Amount = int\n", "SyntaxError: invalid syntax", 2),
        ("def f(:\n", "SyntaxError: invalid syntax", 1),
        ("x = (\n\n", "SyntaxError: '(' was never closed", 1),
        (
            "x = 1\nprint 'hi'\n",
            "SyntaxError: Missing parentheses in call to 'print'. Did you mean print(...)?",
            2,
        ),
        (b"x = 1\x00\n", "SyntaxError: source code string cannot contain null bytes", 1),
    ],
)
def test_a_file_that_cannot_be_parsed_gives_its_error_and_line(
    source: str | bytes, error: str, line: int
) -> None:
    found = scan(source)

    assert (found.error, found.error_line) == (error, line)
    assert found.imports == found.calls == ()


def test_a_file_in_another_encoding_is_read_as_it_declares() -> None:
    source = "# -*- coding: latin-1 -*-\nUSERS = 'caf\xe9'\nget_service(USERS, 'x')\n"

    assert scan(source.encode("latin-1")).calls == (Call(3, "get_service", ("caf\xe9", "x")),)


def test_undecodable_bytes_are_an_error_of_the_file() -> None:
    found = scan(b"x = '\xff'\n")

    assert found.error is not None
    assert found.error.startswith("SyntaxError: (unicode error) 'utf-8' codec can't decode")
    assert found.error_line == 1


def test_a_missing_file_is_a_scan_error_not_a_crash(tmp_path: Path) -> None:
    missing = tmp_path / "gone.py"

    found = scan_files([SourceFile(missing, "gone")], NAMES)

    assert found[missing].error is not None
    assert found[missing].error.startswith("FileNotFoundError: ")


# --- dotted names ----------------------------------------------------------------------------


def test_dotted_names_count_every_folder_with_or_without_init(tmp_path: Path) -> None:
    assert dotted_name(tmp_path / "shop/billing/__init__.py", tmp_path) == ("shop.billing", True)
    assert dotted_name(tmp_path / "shop/billing/tax.py", tmp_path) == ("shop.billing.tax", False)
    assert dotted_name(tmp_path / "shop/ns/deep/x.py", tmp_path) == ("shop.ns.deep.x", False)


# --- many files, cached --------------------------------------------------------------------------


def project(root: Path, count: int = 3) -> list[SourceFile]:
    """``count`` modules of a package ``shop``, each importing the next and looking one up."""
    files = [SourceFile(root / "shop/__init__.py", "shop", True)]
    (root / "shop").mkdir(parents=True, exist_ok=True)
    files[0].path.write_text("from . import m0\n", encoding="utf-8")
    for index in range(count):
        path = root / f"shop/m{index}.py"
        path.write_text(
            f'from .m{index + 1} import thing\nregistry.get_service("users", "Service{index}")\n',
            encoding="utf-8",
        )
        files.append(SourceFile(path, f"shop.m{index}"))
    return files


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths parsed, in order (each call of scan_source)."""
    seen: list[str] = []
    original: Callable[..., FileScan] = sources.scan_source

    def counting(source: bytes | str, path: str, dotted: str, **options: Any) -> FileScan:
        seen.append(Path(path).name)
        return original(source, path, dotted, **options)

    monkeypatch.setattr(sources, "scan_source", counting)
    return seen


def test_without_a_cache_root_every_file_is_parsed_every_time(
    tmp_path: Path, parses: list[str]
) -> None:
    files = project(tmp_path)

    scan_files(files, NAMES)
    scan_files(files, NAMES)

    assert len(parses) == 8
    assert not (tmp_path / CACHE_DIR).exists()


def test_a_second_run_reuses_the_cache(tmp_path: Path, parses: list[str]) -> None:
    files = project(tmp_path)

    first = scan_files(files, NAMES, cache_root=tmp_path)
    parsed_once = list(parses)
    second = scan_files(files, NAMES, cache_root=tmp_path)

    assert parsed_once == ["__init__.py", "m0.py", "m1.py", "m2.py"]
    assert parses == parsed_once  # nothing parsed again
    assert second == first
    assert second[files[1].path] == FileScan(
        imports=(Import(1, "shop.m1", ("thing",)),),
        calls=(Call(2, "registry.get_service", ("users", "Service0")),),
    )
    ignore = tmp_path / CACHE_DIR / ".gitignore"
    assert ignore.read_text(encoding="utf-8") == "# Created by aura check; safe to delete.\n*\n"


def test_an_edited_file_is_parsed_again(tmp_path: Path, parses: list[str]) -> None:
    files = project(tmp_path)
    scan_files(files, NAMES, cache_root=tmp_path)
    parses.clear()
    edited = files[2].path
    edited.write_text("import shop.elsewhere\n", encoding="utf-8")  # another size

    result = scan_files(files, NAMES, cache_root=tmp_path)

    assert parses == ["m1.py"]
    assert result[edited] == FileScan(imports=(Import(1, "shop.elsewhere"),))
    parses.clear()
    assert scan_files(files, NAMES, cache_root=tmp_path) == result
    assert parses == []


def test_a_file_of_the_same_size_with_a_new_modification_time_is_parsed_again(
    tmp_path: Path, parses: list[str]
) -> None:
    files = project(tmp_path)
    scan_files(files, NAMES, cache_root=tmp_path)
    parses.clear()
    edited = files[1].path
    before = edited.stat()
    edited.write_text(edited.read_text(encoding="utf-8").replace("m1", "m9"), encoding="utf-8")
    os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    assert edited.stat().st_size == before.st_size

    result = scan_files(files, NAMES, cache_root=tmp_path)

    assert parses == ["m0.py"]
    assert result[edited].imports == (Import(1, "shop.m9", ("thing",)),)


def test_a_file_whose_dotted_name_changed_is_parsed_again(
    tmp_path: Path, parses: list[str]
) -> None:
    files = project(tmp_path)
    scan_files(files, NAMES, cache_root=tmp_path)
    parses.clear()
    moved = [SourceFile(file.path, f"src.{file.dotted}", file.package) for file in files]

    result = scan_files(moved, NAMES, cache_root=tmp_path)

    assert len(parses) == 4
    assert result[files[1].path].imports == (Import(1, "src.shop.m1", ("thing",)),)


def test_other_coupling_names_do_not_reuse_the_cache(tmp_path: Path, parses: list[str]) -> None:
    files = project(tmp_path)
    scan_files(files, NAMES, cache_root=tmp_path)
    parses.clear()

    result = scan_files(files, {"apps.get_model"}, cache_root=tmp_path)

    assert len(parses) == 4
    assert result[files[1].path].calls == ()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param("{not json", id="not JSON"),
        pytest.param("", id="empty"),
        pytest.param("[1, 2]", id="not an object"),
        pytest.param('{"signature": "other", "files": {}}', id="another signature"),
        pytest.param("entries not lists", id="entries of the wrong shape"),
        pytest.param("scans not lists", id="scans of the wrong shape"),
        pytest.param("files not a table", id="files of the wrong shape"),
    ],
)
def test_a_damaged_cache_is_ignored_and_rewritten(
    tmp_path: Path, parses: list[str], damage: str
) -> None:
    files = project(tmp_path)
    expected = scan_files(files, NAMES, cache_root=tmp_path)
    cache = tmp_path / CACHE_DIR / "boundaries.json"
    data = json.loads(cache.read_text(encoding="utf-8"))
    if damage == "entries not lists":
        data["files"] = dict.fromkeys(data["files"], 5)
        damage = json.dumps(data)
    elif damage == "scans not lists":
        data["files"] = {key: [entry[0], entry[1], [1]] for key, entry in data["files"].items()}
        damage = json.dumps(data)
    elif damage == "files not a table":
        data["files"] = ["x"]
        damage = json.dumps(data)
    cache.write_text(damage, encoding="utf-8")
    parses.clear()

    assert scan_files(files, NAMES, cache_root=tmp_path) == expected
    assert len(parses) == 4
    parses.clear()
    assert scan_files(files, NAMES, cache_root=tmp_path) == expected
    assert parses == []  # the cache was written anew


def test_a_project_that_cannot_be_written_is_still_scanned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = project(tmp_path)
    expected = scan_files(files, NAMES)

    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    monkeypatch.setattr(Path, "write_text", refuse)

    assert scan_files(files, NAMES, cache_root=tmp_path) == expected
    assert scan_files(files, NAMES, cache_root=tmp_path) == expected
    assert not (tmp_path / CACHE_DIR).exists()


def test_a_cache_folder_that_is_a_file_does_not_stop_the_scan(tmp_path: Path) -> None:
    files = project(tmp_path)
    (tmp_path / CACHE_DIR).write_text("not a folder", encoding="utf-8")

    result = scan_files(files, NAMES, cache_root=tmp_path)

    assert result == scan_files(files, NAMES)
    assert (tmp_path / CACHE_DIR).read_text(encoding="utf-8") == "not a folder"


def test_a_file_that_could_not_be_read_is_read_again_next_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = project(tmp_path)
    locked = files[1].path
    read_bytes = Path.read_bytes

    def refuse_locked(self: Path) -> bytes:
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return read_bytes(self)

    with monkeypatch.context() as patch:
        patch.setattr(Path, "read_bytes", refuse_locked)
        first = scan_files(files, NAMES, cache_root=tmp_path)
    assert first[locked].error == f"PermissionError: [Errno 13] Permission denied: '{locked}'"

    # Permissions repaired: the file's size and modification time are the same as before.
    second = scan_files(files, NAMES, cache_root=tmp_path)

    assert second[locked].error is None
    assert second[locked].imports == (Import(1, "shop.m1", ("thing",)),)


def test_a_file_that_cannot_be_parsed_is_kept_in_the_cache_with_its_error(
    tmp_path: Path, parses: list[str]
) -> None:
    files = project(tmp_path)
    files[1].path.write_text("def broken(:\n", encoding="utf-8")
    first = scan_files(files, NAMES, cache_root=tmp_path)
    parses.clear()

    second = scan_files(files, NAMES, cache_root=tmp_path)

    assert parses == []
    assert second[files[1].path] == first[files[1].path]
    assert second[files[1].path].error_line == 1


def test_the_parallel_scan_gives_what_the_serial_one_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = project(tmp_path, sources._PARALLEL_FROM + 20)
    files[7].path.write_text("def broken(:\n", encoding="utf-8")
    pools: list[int] = []

    class Recording(concurrent.futures.process.ProcessPoolExecutor):
        def __init__(self, workers: int, **options: Any) -> None:
            pools.append(workers)
            super().__init__(workers, **options)

    monkeypatch.setattr(concurrent.futures.process, "ProcessPoolExecutor", Recording)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    parallel = scan_files(files, NAMES)
    monkeypatch.setattr(sources, "_PARALLEL_FROM", len(files) + 1)
    serial = scan_files(files, NAMES)

    assert pools == [2]  # three shares: two forked workers, and this process parses one
    assert parallel == serial
    assert sorted(parallel) == sorted(file.path for file in files)
    assert parallel[files[7].path].error == "SyntaxError: invalid syntax"


def test_the_parallel_scan_survives_a_restore_of_sys_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pytester's in-process runs put sys.modules back as it was: a module first imported during
    # one is dropped, while its package keeps the name it cached. The pool must still pickle.
    files = project(tmp_path, sources._PARALLEL_FROM + 20)
    assert concurrent.futures.ProcessPoolExecutor is not None  # the package caches its name
    # Both put back afterwards: the re-import below also rebinds the package's attribute.
    monkeypatch.setattr(concurrent.futures, "process", concurrent.futures.process)
    monkeypatch.delitem(sys.modules, "concurrent.futures.process")
    monkeypatch.setattr(os, "cpu_count", lambda: 2)

    parallel = scan_files(files, NAMES)

    assert sorted(parallel) == sorted(file.path for file in files)
    assert all(scan.error is None for scan in parallel.values())


def test_a_fresh_checkout_with_the_cache_parses_only_what_changed(
    tmp_path: Path, parses: list[str]
) -> None:
    """A CI job restores .aura_cache into a new checkout: every modification time is new, but
    the contents are the same, so nothing is parsed but the file that really changed."""
    original = tmp_path / "first"
    project(original)
    scan_files(project(original), NAMES, cache_root=original)
    checkout = tmp_path / "checkout"
    shutil.copytree(original, checkout, copy_function=shutil.copy)  # new modification times
    files = project(checkout)  # rewritten: the same content, later still
    files[3].path.write_text("import shop.other\n", encoding="utf-8")
    parses.clear()

    result = scan_files(files, NAMES, cache_root=checkout)

    assert parses == ["m2.py"]
    assert result[files[1].path].imports == (Import(1, "shop.m1", ("thing",)),)
    parses.clear()
    assert scan_files(files, NAMES, cache_root=checkout) == result
    assert parses == []  # the new stamps were recorded


def test_entries_of_files_another_caller_scanned_are_kept_while_they_exist(
    tmp_path: Path, parses: list[str]
) -> None:
    files = project(tmp_path)
    scan_files(files, NAMES, cache_root=tmp_path)  # say, pytest --aura-changed: everything
    scan_files(files[:2], NAMES, cache_root=tmp_path)  # say, aura check: some of it
    parses.clear()

    scan_files(files, NAMES, cache_root=tmp_path)

    assert parses == []
    files[3].path.unlink()
    scan_files(files[:2], NAMES, cache_root=tmp_path)
    cache = json.loads((tmp_path / CACHE_DIR / "boundaries.json").read_text(encoding="utf-8"))
    assert sorted(cache["files"]) == ["shop/__init__.py", "shop/m0.py", "shop/m1.py"]


def test_an_expression_nested_too_deeply_to_parse_is_reported_not_raised() -> None:
    source = "x = " + "1 + " * 20_000 + "1\n"

    scan = scan_source(source, "deep.py", "shop.deep", package=False, names=NAMES)

    assert (scan.error, scan.error_line) == ("RecursionError: too deeply nested to parse", 1)


def test_a_cache_entry_of_the_right_shape_but_wrong_types_is_parsed_again(
    tmp_path: Path, parses: list[str]
) -> None:
    files = project(tmp_path, count=1)
    scan_files(files, NAMES, cache_root=tmp_path)
    cache_file = tmp_path / CACHE_DIR / "boundaries.json"
    data = json.loads(cache_file.read_text(encoding="utf-8"))
    data["files"]["shop/m0.py"][2] = [[[1, ["x"], []]], [], None, 0]  # a list for a name
    cache_file.write_text(json.dumps(data), encoding="utf-8")
    parses.clear()

    result = scan_files(files, NAMES, cache_root=tmp_path)

    assert parses == ["m0.py"]
    assert result[files[1].path].imports == (Import(1, "shop.m1", ("thing",)),)
