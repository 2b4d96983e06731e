"""A C file's lines as the preprocessor sees them: backslash continuations joined, comments
gone. Enough to read a file's leading directives without running the preprocessor."""

from __future__ import annotations

from collections.abc import Iterator


def _logical_lines(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, text) of each line, backslash continuations joined; end includes the
    newline."""
    pos = 0
    while pos < len(text):
        start, parts = pos, []
        while True:
            nl = text.find("\n", pos)
            end = len(text) if nl < 0 else nl + 1
            piece = text[pos:end].rstrip("\r\n")
            pos = end
            if piece.endswith("\\") and pos < len(text):
                parts.append(piece[:-1])
                continue
            parts.append(piece)
            break
        yield start, pos, "".join(parts)


def code_lines(text: str) -> Iterator[tuple[int, str, bool]]:
    """(end offset, the code without comments, whether a block comment runs on past it) of
    each logical line."""
    in_comment = False
    for _start, stop, line in _logical_lines(text):
        rest = line
        code = ""
        while rest:
            if in_comment:
                close = rest.find("*/")
                if close < 0:
                    rest = ""
                    break
                in_comment, rest = False, rest[close + 2 :]
                continue
            cut = [i for i in (rest.find("/*"), rest.find("//")) if i >= 0]
            if not cut:
                code, rest = code + rest, ""
                break
            i = min(cut)
            code += rest[:i] + " "
            if rest.startswith("//", i):
                rest = ""
            else:
                in_comment, rest = True, rest[i + 2 :]
        yield stop, code.strip(), in_comment
