"""The one exception hierarchy for malformed objects.

`ObjectError` is the elf layer's error (re-exported by `kptr_lsp.elf`); it lives in this leaf
module so that `elf` can depend on `btf` without an import cycle. `BTFError` derives from it,
so a caller that turns a bad object into one diagnostic catches `ObjectError` alone.
"""

from __future__ import annotations


class ObjectError(Exception):
    """A BPF object (ELF container or one of its sections) is malformed or unsupported."""


class BTFError(ObjectError):
    """.BTF or .BTF.ext data is malformed; the message says where (section, record, field)."""
