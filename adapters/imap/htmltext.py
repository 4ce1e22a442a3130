"""HTML bodies as plain text, good enough for phrase and form-field matching.

Table cells become ``label: value`` lines so a web-form mail rendered as an HTML table reads the
same as its plain-text twin.
"""

from __future__ import annotations

from html.parser import HTMLParser

_BLOCK = frozenset(
    {"p", "br", "div", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "dt", "dd"}
)
_SKIP = frozenset({"script", "style", "head", "title"})
_CELL = frozenset({"td", "th"})


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0
        self.cells_in_row = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag == "tr":
            self.out.append("\n")
            self.cells_in_row = 0
        elif tag in _CELL:
            if self.cells_in_row:
                self.out.append(": " if self.cells_in_row == 1 else " ")
            self.cells_in_row += 1
        elif tag in _BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(" ".join(data.split()) if data.strip() else (" " if data else ""))


def html_to_text(html: str) -> str:
    parser = _Text()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # HTMLParser is lenient, but this text comes from strangers
        pass
    lines = (" ".join(line.split()) for line in "".join(parser.out).splitlines())
    return "\n".join(line for line in lines if line)
