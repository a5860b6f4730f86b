"""Docstring styles a tool's descriptions come from, since docstring_parser reads them.

tests/unit/test_tools.py holds the Google-style cases the hand-written parser handled; these
are the edges the library swap introduced: NumPy, reST and Epydoc docstrings (new), the
Google spellings docstring_parser does not know by itself (lower case, `Keyword Arguments`,
a docstring that opens with `Args:`), and a docstring no style can read.
"""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
from typing import Any

import pytest

from codex_manager_core.tools import Tool


def properties(fn: Any) -> dict[str, Any]:
    return dict(Tool.from_function(fn).input_schema["properties"])


def test_numpy_style_parameters() -> None:
    def f(a: int, b: str = "x") -> None:
        """Do the thing
        in two lines.

        Parameters
        ----------
        a : int
            The a,
            continued.
        b : str, optional
            The b.

            Its second paragraph.

        Returns
        -------
        None
        """

    tool = Tool.from_function(f)
    assert tool.description == "Do the thing in two lines."
    assert tool.input_schema["properties"] == {
        "a": {"type": "integer", "description": "The a, continued."},
        "b": {"type": "string", "description": "The b.\nIts second paragraph.", "default": "x"},
    }


@dataclasses.dataclass
class Shipment:
    """Where a parcel goes.

    Attributes
    ----------
    city : str
        The city.
    """

    city: str


def test_numpy_style_attributes_of_a_nested_class() -> None:
    def f(shipment: Shipment) -> None:
        pass

    schema = properties(f)["shipment"]
    assert schema["description"] == "Where a parcel goes."
    assert schema["properties"]["city"] == {"type": "string", "description": "The city."}


def test_rest_and_epydoc_style_parameters() -> None:
    def rest(a: int) -> None:
        """Do it.

        :param a: The a.
        :returns: nothing.
        """

    def epydoc(a: int) -> None:
        """Do it.

        @param a: The a.
        """

    for fn in (rest, epydoc):
        tool = Tool.from_function(fn)
        assert tool.description == "Do it."
        assert tool.input_schema["properties"]["a"] == {"type": "integer", "description": "The a."}


@pytest.mark.parametrize("header", ["args", "Keyword Arguments", "keyword args", "parameters"])
def test_google_spellings_docstring_parser_does_not_know_itself(header: str) -> None:
    def f(a: int) -> None:
        pass

    f.__doc__ = f"Do it.\n\n    {header}:\n        a: The a.\n    "
    assert properties(f)["a"]["description"] == "The a."


def test_a_docstring_that_is_only_an_args_section() -> None:
    # inspect.cleandoc puts the entries level with `Args:`, which no parser takes as entries.
    def f(a: int, b: int) -> None:
        """Args:
        a: The a.
        b: The b,
            continued.
        """

    tool = Tool.from_function(f)
    assert tool.description == "Tool f."
    assert tool.input_schema["properties"]["a"]["description"] == "The a."
    assert tool.input_schema["properties"]["b"]["description"] == "The b, continued."


def test_an_args_only_docstring_followed_by_another_section() -> None:
    def f(a: int) -> None:
        """Args:
        a: The a.
        Returns:
            nothing.
        """

    assert properties(f)["a"]["description"] == "The a."


def test_an_unreadable_section_costs_the_descriptions_not_the_tool(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def shaky(a: int) -> None:
        """Summary survives.

        Args:
            a: The a.
            a line with no colon, which no docstring style reads
        """

    with caplog.at_level(logging.WARNING, logger="codex_manager_core.tools"):
        tool = Tool.from_function(shaky)
    assert tool.description == "Summary survives."
    assert tool.input_schema["properties"]["a"] == {"type": "integer"}
    [record] = [r for r in caplog.records if r.name == "codex_manager_core.tools"]
    assert record.levelno == logging.WARNING
    assert "shaky" in record.getMessage()
    assert "Expected a colon" in record.getMessage()


def test_starred_names_and_types_in_entries() -> None:
    def f(count: int) -> None:
        """Do it.

        Args:
            count (int, optional): How many.
            *rest: Not a parameter of f; ignored.
        """

    assert properties(f) == {"count": {"type": "integer", "description": "How many."}}


def test_importing_the_tools_package_leaves_docstring_parser_unloaded() -> None:
    # It is loaded when the first tool is registered, so `import codex_manager_core` stays cheap.
    code = "import sys, codex_manager_core.tools; assert 'docstring_parser' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
