"""Cheap, layered imports (issue 8): the package `__init__` is a lazy facade, so importing
the sans-IO JSON-RPC layer does not load the SQLite adapter or the subprocess runtime, while
every public name of `codex_manager_core` still resolves; `codex_manager_core.testing` is
lazy the same way, so one test double does not load all the others."""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType

import pytest

import codex_manager_core
import codex_manager_core.testing


def fresh_interpreter(code: str) -> list[str]:
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return run.stdout.split()


def test_importing_rpc_loads_neither_apsw_nor_subprocess() -> None:
    loaded = fresh_interpreter(
        "import sys, codex_manager_core.rpc;"
        "print(*(name for name in ('apsw', 'subprocess', 'anyio', 'codex_manager_core.manager')"
        " if name in sys.modules))"
    )
    assert loaded == [], f"import codex_manager_core.rpc loaded {loaded}"


def test_importing_the_package_loads_no_submodule_until_a_name_is_used() -> None:
    loaded = fresh_interpreter(
        "import sys, codex_manager_core;"
        "print(sorted(m for m in sys.modules if m.startswith('codex_manager_core.')));"
        "codex_manager_core.Manager;"
        "print('codex_manager_core.manager' in sys.modules, 'apsw' in sys.modules)"
    )
    assert loaded == ["['codex_manager_core._version']", "True", "False"]  # apsw: on first open


@pytest.mark.parametrize("package", [codex_manager_core, codex_manager_core.testing])
def test_every_exported_name_resolves_to_the_object_of_its_module(package: ModuleType) -> None:
    exports: dict[str, str] = package._EXPORTS
    assert set(package.__all__) - {"__version__"} == set(exports)
    for name, module in exports.items():
        value = getattr(package, name)
        assert value is getattr(sys.modules[module], name), name
    assert set(package.__all__) <= set(dir(package))


@pytest.mark.parametrize("package", ["codex_manager_core", "codex_manager_core.testing"])
def test_star_import_gives_every_exported_name(package: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {package} import *", namespace)
    assert set(sys.modules[package].__all__) <= set(namespace)


def test_the_fake_clock_alone_does_not_load_the_other_test_doubles() -> None:
    loaded = fresh_interpreter(
        "import sys; from codex_manager_core.testing import FakeClock;"
        "print(*(name for name in ('apsw', 'codex_manager_core.testing.scripted_model',"
        " 'codex_manager_core.testing.fake_app_server') if name in sys.modules))"
    )
    assert loaded == [], f"importing FakeClock loaded {loaded}"


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        codex_manager_core.NoSuchThing  # noqa: B018
