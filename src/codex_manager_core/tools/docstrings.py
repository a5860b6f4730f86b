"""A tool's description and its parameters' descriptions, read from docstrings.

The parsing itself is docstring_parser's (Google, NumPy, reST and Epydoc styles; the style
that finds the most sections wins, as its own `parse(style=AUTO)` does). What is ours is
what the model is shown:

- the summary is the whole first paragraph on one line, not only its first line;
- a description keeps its paragraphs (one per line) and joins the lines inside each;
- Google sections also answer to `Keyword Args` / `Keyword Arguments` and to lower case
  (`args:`), as the hand-written parser this replaced did;
- a Google docstring that opens with its section (`\"\"\"Args:`) and nothing else has lost
  its entries' indentation to `inspect.cleandoc`; they are put back under the header.

A docstring that no style can read costs the tool its parameter descriptions, never its
registration: a warning names the callable and what the parser said.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import attrs

if TYPE_CHECKING:
    from docstring_parser import Docstring

# One logger for the whole package, named after it: embedders filter on that name.
logger = logging.getLogger("codex_manager_core.tools")

_PARAGRAPH_BREAK: Final = re.compile(r"\n\s*\n")


@attrs.frozen
class _Parsers:
    """docstring_parser's parsers, set up on first use.

    Imported only when a tool is registered: `import codex_manager_core` should not pay for
    them (about 10 ms) in a program that registers none.
    """

    styles: tuple[Callable[[str], Docstring], ...]
    """Google (with our sections), NumPy, reST, Epydoc: the first that finds most wins."""
    google_title: re.Pattern[str]
    """A line that opens a Google section."""
    parse_error: type[Exception]


@functools.cache
def _parsers() -> _Parsers:
    from docstring_parser import ParseError, epydoc, numpydoc, rest
    from docstring_parser.google import DEFAULT_SECTIONS, GoogleParser, Section, SectionType

    extra = (
        Section("Keyword Args", "param", SectionType.MULTIPLE),
        Section("Keyword Arguments", "param", SectionType.MULTIPLE),
    )
    sections = [
        Section(title, section.key, section.type)
        for section in (*DEFAULT_SECTIONS, *extra)
        for title in dict.fromkeys((section.title, section.title.lower()))
    ]
    titles = "|".join(re.escape(section.title) for section in sections)
    return _Parsers(
        styles=(GoogleParser(sections).parse, numpydoc.parse, rest.parse, epydoc.parse),
        google_title=re.compile(rf"(?:{titles}):\s*"),
        parse_error=ParseError,
    )


def parse_docstring(doc: str | None, owner: str = "") -> tuple[str, dict[str, str]]:
    """The summary and the parameter descriptions of a docstring (`""`, `{}` if none).

    Parameter descriptions come from `Args:`, `Arguments:`, `Parameters:`, `Params:`,
    `Keyword Args:` and (for classes) `Attributes:` in Google style, from `Parameters` and
    `Attributes` in NumPy style, and from `:param name:` / `@param name:`. `owner` names
    the callable in the warning about a docstring no style can read.
    """
    if not doc or not doc.strip():
        return "", {}
    parsers = _parsers()
    text = _indent_opening_section(inspect.cleandoc(doc), parsers.google_title)
    parsed: list[Docstring] = []
    problems: list[str] = []
    for parse in parsers.styles:
        try:
            parsed.append(parse(text))
        except parsers.parse_error as exc:
            problems.append(str(exc))
    if not parsed:  # pragma: no cover - NumPy and reST style accept any text
        logger.warning("cannot read the docstring of %s: %s", owner, "; ".join(problems))
        return _first_paragraph(text), {}
    best = max(parsed, key=lambda docstring: len(docstring.meta))
    if problems and not best.params:
        logger.warning(
            "cannot read the parameter descriptions in the docstring of %s (%s); "
            "the tool is registered without them",
            owner or "a tool",
            "; ".join(problems),
        )
    descriptions: dict[str, str] = {}
    for param in best.params:
        description = _join_lines(param.description or "")
        name = param.arg_name.lstrip("*")
        if description:  # a name given twice (Args and Attributes) keeps both texts
            previous = descriptions.get(name)
            descriptions[name] = f"{previous} {description}" if previous else description
    return _first_paragraph(best.description or ""), descriptions


def own_class_doc(cls: type) -> str | None:
    """The class's own docstring; not an inherited one, not dataclasses' generated signature."""
    doc = cls.__dict__.get("__doc__")
    if not isinstance(doc, str):
        return None
    if dataclasses.is_dataclass(cls) and doc.startswith(f"{cls.__name__}("):
        return None
    return doc


def _first_paragraph(text: str) -> str:
    first = _PARAGRAPH_BREAK.split(text.strip(), maxsplit=1)[0]
    return " ".join(line.strip() for line in first.splitlines() if line.strip())


def _join_lines(text: str) -> str:
    """Paragraphs on lines of their own, the lines inside each joined with spaces."""
    paragraphs = (
        " ".join(line.strip() for line in paragraph.splitlines() if line.strip())
        for paragraph in _PARAGRAPH_BREAK.split(text.strip())
    )
    return "\n".join(paragraph for paragraph in paragraphs if paragraph)


def _indent_opening_section(doc: str, google_title: re.Pattern[str]) -> str:
    """Put back under `Args:` the entries that `inspect.cleandoc` moved level with it.

    `\"\"\"Args:` on the docstring's first line: cleandoc cannot see that line's real
    indentation, so when nothing else sits at the header's level the entries come out at
    column 0, where no parser takes them for a section's entries.
    """
    lines = doc.splitlines()
    if len(lines) < 2 or not google_title.fullmatch(lines[0]):
        return doc
    first_entry = next((line for line in lines[1:] if line.strip()), "")
    if not first_entry or first_entry[0].isspace():
        return doc
    shifted = [lines[0]]
    for index, line in enumerate(lines[1:], start=1):
        if google_title.fullmatch(line):
            shifted.extend(lines[index:])
            break
        shifted.append(f"    {line}" if line.strip() else line)
    # The parsers run cleandoc again; behind an empty first line, the header's level counts.
    return "\n" + "\n".join(shifted)
