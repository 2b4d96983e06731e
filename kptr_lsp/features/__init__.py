"""Editor features as free functions of the analysed model (`analysis.Analysis`), each
returning plain data: hover/ (fields, types, state, includes, rodata, cost), lenses, outline,
fixes, cost_hints. `lsp/` translates what they return into LSP types."""
