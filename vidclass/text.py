"""One way to print text that came from outside: one function per medium.

File names, model labels and metadata, server replies and the messages of exceptions that embed
them are data, never instructions to the terminal or the spreadsheet that shows them. A file named
``"\\x1b]0;pwned\\x07.mp4"`` sets a terminal's title when printed as it is, ``"a.mp4\\nb.mp4: ok"``
forges a second line, ``"[link=file:///etc]x[/link]"`` is live rich markup, and a CSV cell
``=HYPERLINK(...)`` is a formula. So text from outside goes out through one of:

* :func:`for_terminal` -- the terminal: control characters made visible, one record one line;
* :func:`plain` -- a rich :class:`~rich.text.Text` built from data (markup never interpreted),
  for everything rich prints;
* :func:`for_csv` -- a CSV text cell: made visible as for the terminal, formula prefixes
  neutralised (:func:`from_csv` undoes the neutralisation when a file is read back);
* :func:`for_json` -- a JSON document: escapes what JSON allows raw but a terminal obeys.

How characters are made visible (:func:`for_terminal`), chosen to stay readable:

* ``\\t``, ``\\n``, ``\\r`` as those two characters; every other C0 control, DEL and the C1 controls
  (U+0080-U+009F: U+009B is a one-character CSI) as ``\\xNN``, so ESC is ``\\x1b``;
* bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069), the marks U+200E, U+200F,
  U+061C, and the line and paragraph separators U+2028, U+2029 as ``\\uNNNN``: "Trojan Source"
  names (``gpj.exe`` shown as ``exe.jpg``) and invisible line breaks;
* a byte that was not UTF-8 in a file name (Python keeps it as a lone surrogate U+DC80-U+DCFF) as
  ``\\xNN``, the byte itself, as ``ls -b`` shows it; any other lone surrogate as ``\\uNNNN``.

Everything else (accents, CJK, emoji) is printed as it is. A backslash is left alone, so the
result is not reversible: ``\\x1b`` is either an escape character or those four characters. That
is the price of names that stay readable; JSON is the exact record.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.text import Text

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
#: Bidirectional formatting characters (Unicode TR9) and line/paragraph separators.
_INVISIBLE = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029]


def _visible_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]:
        table[code] = _NAMED.get(chr(code), f"\\x{code:02x}")
    for code in _INVISIBLE:
        table[code] = f"\\u{code:04x}"
    for code in range(0xD800, 0xE000):
        # surrogateescape keeps a byte B that is not UTF-8 as U+DC00 + B (B >= 0x80).
        table[code] = f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"
    return table


_VISIBLE = _visible_table()
# In JSON, C0 controls are already escaped by json.dumps; the rest of the table becomes \uNNNN.
_JSON = {code: f"\\u{code:04x}" for code in _VISIBLE if code >= 0x7F}


def for_terminal(text: object) -> str:
    """``text`` (or ``str(text)``) with every character a terminal would obey made visible.

    The result holds no control character, no bidirectional override and no line break: one line,
    printed as it reads. See the module docstring for the notation.
    """
    return str(text).translate(_VISIBLE)


def plain(text: object, style: str | None = None) -> Text:
    """A rich :class:`~rich.text.Text` of ``text`` made visible: rich markup in it stays literal.

    Build what rich prints from these (``Text.assemble``, ``Table.add_row``), never by putting data
    into a markup string: ``f"[red]{name}[/]"`` lets a name close the tag and open its own.
    """
    from rich.text import Text  # only the terminal needs rich; workers that write records do not

    return Text(for_terminal(text), style=style or "")


#: First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection"):
#: = + - @, TAB and CR; and their full-width forms, which some spreadsheets convert. A leading ' is
#: escaped too, so that :func:`from_csv` can tell our prefix from the cell's own.
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20", "'")


def for_csv(cell: object) -> str:
    """A CSV text cell: made visible as for the terminal, then a formula start neutralised.

    As OWASP recommends, a cell that starts with ``=``, ``+``, ``-``, ``@``, TAB or CR is prefixed
    with ``'``, which spreadsheets take as "this is text" (``-rf.mp4`` becomes ``'-rf.mp4``); TAB
    and CR are made visible first (``\\t``), so they never start a cell anyway. Only
    text that came from outside goes through here (sources, labels, error messages): the numbers
    vidclass writes itself (scores, durations) stay numbers, ``-0.5`` included. Quoting, commas and
    quotes inside the cell are the ``csv`` module's job.
    """
    text = for_terminal(cell)
    return "'" + text if text.startswith(CSV_FORMULA_STARTS) else text


def from_csv(cell: str) -> str:
    """A text cell read back from a CSV that :func:`for_csv` wrote: the ``'`` prefix taken off.

    The visible escapes stay (they cannot be undone: see the module docstring).
    """
    return cell[1:] if cell.startswith("'") else cell


def for_json(value: Any, indent: int | None = None) -> str:
    """``value`` as one line of JSON (``indent``: a document over several lines, each string still
    on one), valid UTF-8, that a terminal shows without obeying any of it.

    Non-ASCII text stays readable (``ensure_ascii=False``); what a terminal would act on is escaped
    as ``\\uNNNN``: C0 controls (json does that itself), DEL, C1 controls, bidirectional overrides,
    U+2028/U+2029, and lone surrogates (a file name's bytes that were not UTF-8: ``json.loads``
    then ``os.fsencode`` gives the name back). NaN and infinity are refused (``ValueError``): they
    are not JSON.
    """
    return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=indent).translate(_JSON)
