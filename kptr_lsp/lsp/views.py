"""Code lenses and document symbols for analysed buffers: per-document state (the save
history behind "change since the previous save", the last analysis that compiled) and the
translation of features/lenses.py / features/outline.py results into LSP types."""

from __future__ import annotations

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from ..analysis import Analysis
from ..features.cost_hints import hottest_summary
from ..features.lenses import ProgramLens, SaveHistory, insn_counts, program_lenses
from ..features.outline import Symbol, SymbolKind, document_symbols
from ..verify.verbose import VerboseLogs

STATS_COMMAND = "kptr-lsp.programStats"
_KINDS = {
    SymbolKind.PROGRAM: types.SymbolKind.Function,
    SymbolKind.MAP: types.SymbolKind.Object,
    SymbolKind.VARIABLE: types.SymbolKind.Variable,
}


class ProgramViews:
    def __init__(self) -> None:
        self._history: dict[str, SaveHistory[dict[str, int]]] = {}
        # The level-2 logs of saved analyses: the baseline of the per-line cost's Δ (hover)
        self._cost_history: dict[str, SaveHistory[VerboseLogs]] = {}
        self._compiled: dict[str, Analysis] = {}  # the last analysis with an object
        self._lenses: dict[str, list[ProgramLens]] = {}

    def saved(self, uri: str, text: str) -> None:
        """The document was opened or saved with this text."""
        self._history.setdefault(uri, SaveHistory()).saved(text)
        self._cost_history.setdefault(uri, SaveHistory()).saved(text)

    def published(self, uri: str, analysis: Analysis) -> dict[str, int] | None:
        """The analysis was just published: it joins the save history now, in publish order,
        and the counts its lens compares with are returned. Not later, when its lenses are
        built (after a DWARF walk): a save arriving meanwhile would make a saved text look
        unsaved, and the next save's lens would have nothing to compare with."""
        if analysis.model is None:
            return None  # does not compile: keep showing the last version that did
        history = self._history.setdefault(uri, SaveHistory())
        # The baseline is taken before this analysis joins the history.
        baseline = history.baseline(analysis.text)
        history.record(analysis.text, insn_counts(analysis))
        if analysis.verbose is not None:
            costs = self._cost_history.setdefault(uri, SaveHistory())
            base = costs.baseline(analysis.text)
            if base is not None:
                base.keep_counts_only()  # one step back is all a Δ needs: no chain of old logs
            analysis.verbose.baseline = base
            analysis.verbose.source = analysis.text
            costs.record(analysis.text, analysis.verbose)
        return baseline

    def analysed(self, uri: str, analysis: Analysis, baseline: dict[str, int] | None) -> None:
        """Its lenses and outline, once its declaration lines are read; `baseline` is what
        `published` returned for it."""
        if analysis.model is None:
            return  # does not compile: keep showing the last version that did
        self._lenses[uri] = program_lenses(analysis, baseline)
        self._compiled[uri] = analysis

    def forget(self, uri: str) -> None:
        self._history.pop(uri, None)
        self._cost_history.pop(uri, None)
        self._compiled.pop(uri, None)
        self._lenses.pop(uri, None)

    def lenses(self, uri: str) -> list[ProgramLens]:
        return self._lenses.get(uri, [])

    def code_lenses(self, uri: str) -> list[types.CodeLens]:
        out: list[types.CodeLens] = []
        analysis = self._compiled.get(uri)
        for lens in self.lenses(uri):
            at = types.Position(max(lens.location.line - 1, 0), 0)
            hottest = hottest_summary(analysis, lens.program) if analysis is not None else None
            title = f"{lens.title} · {hottest}" if hottest else lens.title
            command = types.Command(
                title=title, command=STATS_COMMAND, arguments=[uri, lens.program]
            )
            out.append(types.CodeLens(types.Range(at, at), command))
        return out

    def stats_text(self, uri: str, program: str) -> str | None:
        """The whole lens in words, shown when the lens is clicked."""
        lens = next((x for x in self.lenses(uri) if x.program == program), None)
        if lens is None:
            return None
        text = f'{program} (SEC("{lens.section}")): {lens.verdict}'
        s = lens.stats
        if s is not None:
            text += (
                f"; {s.processed_insns:,} instructions processed (limit {s.insn_limit:,}), "
                f"{s.total_states:,} states, {s.peak_states:,} at peak, "
                f"{s.max_states_per_insn} at most per instruction"
            )
            if s.verification_time_us is not None:
                text += f", verified in {s.verification_time_us:,} µs"
            if s.stack_depth:
                text += f", stack depth {'+'.join(map(str, s.stack_depth))} bytes"
        if lens.delta_insns:
            text += f"; {lens.delta_insns:+,} instructions since the previous save"
        return text

    def symbols(
        self, uri: str, path: str, lines: list[str], codec: PositionCodec
    ) -> list[types.DocumentSymbol]:
        analysis = self._compiled.get(uri)
        if analysis is None or analysis.model is None:
            return []
        return [_to_symbol(s, lines, codec) for s in document_symbols(analysis.model, path)]


def _to_symbol(s: Symbol, lines: list[str], codec: PositionCodec) -> types.DocumentSymbol:
    def units(line: int, chars: int) -> int:
        text = lines[line] if line < len(lines) else ""
        return int(codec.client_num_units(text[:chars]))

    first = max(s.location.line - 1, 0)
    last = max(s.end_line - 1, first)
    text = lines[first] if first < len(lines) else ""
    found = text.find(s.name)
    col, name_end = (found, found + len(s.name)) if found >= 0 else (0, 0)
    end_text = lines[last] if last < len(lines) else ""
    name_range = types.Range(
        types.Position(first, units(first, col)),
        types.Position(first, units(first, name_end)),
    )
    whole = types.Range(types.Position(first, 0), types.Position(last, units(last, len(end_text))))
    return types.DocumentSymbol(
        name=s.name,
        kind=_KINDS[s.kind],
        range=whole,
        selection_range=name_range,
        detail=s.detail,
    )
