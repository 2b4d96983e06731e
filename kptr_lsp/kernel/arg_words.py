"""How the verifier names a call's argument in its messages, and which register that is.

kernel/bpf/verifier.c counts arguments three ways, by message (checked on the running kernel
by tests/verify/test_causal.py, one real program per wording):

- `Possibly NULL pointer passed to helper arg%d` (check_reg_type) and `arg %d is an
  unacquired reference` (release of a dynptr) print the *register number*: arg2 is R2;
- `Possibly NULL pointer passed to trusted arg%d` and every kfunc message `arg#%d ...`
  (check_kfunc_args), `args#%d` (kfunc-wrong-struct), the irq-flag messages `as arg#%d`, and
  the dynptr/iterator messages `as arg #%d` (6.x: `regno - 1`) print the 0-based *index*:
  arg#0 is R1;
- the others name the register itself (`R2 type=...`, `R1 arg #1 ...`, `R4 must be a known
  constant`): no argument number to map.

The catalogue's patterns name these numbers with groups `harg` (register number) and `karg`
(0-based index); verify/log_facts.py and verify/causal.py read them through this module.
"""

from __future__ import annotations

import re

# Group names in the catalogue's patterns (kptr_lsp/data/explanations.toml) → what to add to
# the printed number to get the register number.
HELPER_ARG = "harg"  # printed as the register number
KFUNC_ARG = "karg"  # printed as the 0-based argument index
SHIFT = {HELPER_ARG: 0, KFUNC_ARG: 1}

# The wordings, most specific first: (pattern with the number in group 1, shift).
_WORDINGS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"\bhelper arg(\d)\b"), SHIFT[HELPER_ARG]),
    (re.compile(r"\barg (\d) is\b"), SHIFT[HELPER_ARG]),
    (re.compile(r"\btrusted arg(\d)\b"), SHIFT[KFUNC_ARG]),
    (re.compile(r"\bargs?#(\d)\b"), SHIFT[KFUNC_ARG]),
    (re.compile(r"\bas arg #(\d)\b"), SHIFT[KFUNC_ARG]),
)


def argument_register(message: str) -> int | None:
    """The register number of the argument `message` names by its number, or None when the
    message names no argument that way (it may name the register itself: `R2 type=...`)."""
    for pattern, shift in _WORDINGS:
        m = pattern.search(message)
        if m is not None:
            return int(m.group(1)) + shift
    return None
