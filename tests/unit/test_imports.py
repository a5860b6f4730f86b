"""Cheap, layered imports (issue 8): the package `__init__` is a lazy facade, so importing
the sans-IO JSON-RPC layer does not load the SQLite adapter or the subprocess runtime, while
every public name of `codex_manager_core` still resolves."""

from __future__ import annotations

import subprocess
import sys

import pytest

import codex_manager_core


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
    assert loaded == ["['codex_manager_core._version']", "True", "True"]


def test_every_exported_name_resolves_to_the_object_of_its_module() -> None:
    from codex_manager_core import _EXPORTS

    assert set(codex_manager_core.__all__) == {*_EXPORTS, "__version__"}
    for name, module in _EXPORTS.items():
        value = getattr(codex_manager_core, name)
        assert value is getattr(sys.modules[module], name), name
    assert set(codex_manager_core.__all__) <= set(dir(codex_manager_core))


def test_star_import_gives_every_exported_name() -> None:
    namespace: dict[str, object] = {}
    exec("from codex_manager_core import *", namespace)
    assert set(codex_manager_core.__all__) <= set(namespace)


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        codex_manager_core.NoSuchThing  # noqa: B018
