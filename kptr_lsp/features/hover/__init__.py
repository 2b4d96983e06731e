"""Hover text (Markdown) for a position in an analysed buffer. Pure: no LSP types here.

Each provider looks at the analysis and a 1-based line / 0-based character and returns a
paragraph or None; `hover_text` joins what they say. New hover kinds add a provider to
PROVIDERS, here and only here.
"""

from __future__ import annotations

from collections.abc import Callable

from ...analysis import Analysis
from ..cost_hints import cost_hover
from .fields import kptr_field_hover
from .includes import include_hover
from .rodata import rodata_hover
from .state import state_hover
from .types import type_hover

HoverProvider = Callable[[Analysis, int, int], str | None]

PROVIDERS: list[HoverProvider] = [
    kptr_field_hover,
    include_hover,
    rodata_hover,
    type_hover,
    state_hover,
    cost_hover,
]


def hover_text(analysis: Analysis, line: int, character: int) -> str | None:
    parts = [p for p in (provider(analysis, line, character) for provider in PROVIDERS) if p]
    return "\n\n---\n\n".join(parts) or None
