"""One real BPF object exercising every BTF kind the parsers handle, compiled once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from btf_sample import SAMPLE_SOURCE, Sample

from kptr_lsp.elf import ObjectFile


@pytest.fixture(scope="session")
def sample(
    compile_bpf: Callable[[str | Path], bytes], tmp_path_factory: pytest.TempPathFactory
) -> Sample:
    path = tmp_path_factory.mktemp("btf-sample") / "sample.bpf.c"
    path.write_text(SAMPLE_SOURCE)
    raw = compile_bpf(path)
    obj = ObjectFile.parse(raw)
    spec = obj.btf_spec()
    assert spec is not None, "clang -g must emit .BTF"
    return Sample(path, raw, obj, spec)
