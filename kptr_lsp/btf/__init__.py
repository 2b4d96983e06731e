"""BTF: wire format (wire), type model (types), lookup (spec), .BTF.ext line/func info (ext)."""

from __future__ import annotations

from .errors import BTFError, ObjectError
from .ext import BTFExt, FuncInfo, LineInfo, line_for, parse_ext
from .spec import Spec, size_of

__all__ = [
    "BTFError",
    "BTFExt",
    "FuncInfo",
    "LineInfo",
    "ObjectError",
    "Spec",
    "line_for",
    "parse_ext",
    "size_of",
]
