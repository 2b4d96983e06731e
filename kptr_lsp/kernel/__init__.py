"""The only home of kernel facts: the target kernel's version rules and BTF (facts.py), and
which kfuncs acquire and release references (kfuncs.py)."""
