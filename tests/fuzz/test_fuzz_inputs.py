"""Mutated real inputs never escape as an exception: the BTF, .BTF.ext and ELF readers raise
only their own errors, the verifier-log parser never raises, and through the pipeline a broken
object or log still ends as diagnostics.

`make test` runs a small derandomized (seeded) set; `make fuzz` sets KPTR_FUZZ_EXAMPLES=10000.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kptr_lsp.btf import BTFError, ObjectError, Spec, parse_ext, size_of
from kptr_lsp.checks import culprits, run_checks
from kptr_lsp.elf import ObjectFile
from kptr_lsp.elf.decls import read_declarations
from kptr_lsp.findings import Finding, Severity
from kptr_lsp.model import ObjectModel
from kptr_lsp.pipeline import read_object
from kptr_lsp.settings import Settings
from kptr_lsp.verify.loader import Failure, ProgramResult
from kptr_lsp.verify.log import parse_log
from kptr_lsp.verify.placement import program_findings

TESTS = Path(__file__).parent.parent
LOGS = sorted((TESTS / "fixtures/logs").glob("*.log"))
SOURCES = ("clean/kptr_ok.bpf.c", "rejected/shared_subprog_two_programs.bpf.c")
EXAMPLES = int(os.environ.get("KPTR_FUZZ_EXAMPLES", "0"))
FUZZING = EXAMPLES > 0

FUZZ = settings(
    max_examples=EXAMPLES or 60,
    derandomize=not FUZZING,  # seeded in `make test`: the same cases every run
    deadline=None,
    database=None,  # no example database written into the tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
EDGES = (0, 1, 7, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x10000)
CompileFn = Callable[[str | Path], bytes]


@st.composite
def mutations(draw: st.DrawFn, original: bytes) -> bytes:
    """Bit flips, edge-value words (counts, offsets, ids), truncation, splices."""
    buf = bytearray(original)
    for _ in range(draw(st.integers(1, 6))):
        if not buf:
            break
        at = draw(st.integers(0, len(buf) - 1))
        op = draw(st.sampled_from(("flip", "word", "cut", "insert", "delete", "dup")))
        if op == "flip":
            buf[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "word" and len(buf) >= 4:
            at = min(at & ~3, len(buf) - 4)
            struct.pack_into("<I", buf, at, draw(st.sampled_from(EDGES)))
        elif op == "cut":
            del buf[at:]
        elif op == "insert":
            buf[at:at] = draw(st.binary(min_size=1, max_size=32))
        elif op == "delete":
            del buf[at : at + draw(st.integers(1, 64))]
        elif op == "dup":
            buf[at:at] = buf[at : at + draw(st.integers(1, 64))]
    return bytes(buf)


def _use_spec(spec: Spec) -> None:
    """What callers do with a Spec: anything malformed must surface as BTFError."""
    for t in spec:
        spec.resolve(t)
        spec.decl_tags(t)
        with contextlib.suppress(BTFError):  # sizeless kinds (func, fwd, void) by contract
            size_of(t)
    spec.kfuncs()


class Sample:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.obj = ObjectFile.parse(raw)
        spec = self.obj.btf_spec()
        assert spec is not None and self.obj.btf is not None and self.obj.btf_ext is not None
        self.spec = spec
        self.btf: bytes = self.obj.btf
        self.ext: bytes = self.obj.btf_ext
        self.btf_at = raw.index(self.btf)  # where .BTF sits in the file, for in-place mutation


@pytest.fixture(scope="module")
def samples(compile_bpf: CompileFn) -> list[Sample]:
    return [Sample(compile_bpf(TESTS / "programs" / name)) for name in SOURCES]


def test_fuzz_btf(samples: list[Sample]) -> None:
    @FUZZ
    @given(st.data())
    def run(data: st.DataObject) -> None:
        sample = data.draw(st.sampled_from(samples))
        with contextlib.suppress(BTFError):
            _use_spec(Spec.parse(data.draw(mutations(sample.btf))))

    run()


def test_fuzz_btf_ext(samples: list[Sample]) -> None:
    @FUZZ
    @given(st.data())
    def run(data: st.DataObject) -> None:
        sample = data.draw(st.sampled_from(samples))
        try:
            parse_ext(data.draw(mutations(sample.ext)), sample.spec)
        except BTFError as exc:
            assert str(exc).startswith("section .BTF.ext: ")  # says where

    run()


def test_fuzz_elf(samples: list[Sample]) -> None:
    @FUZZ
    @given(st.data())
    def run(data: st.DataObject) -> None:
        sample = data.draw(st.sampled_from(samples))
        with contextlib.suppress(ObjectError, BTFError):
            obj = ObjectFile.parse(data.draw(mutations(sample.raw)))
            spec = obj.btf_spec()
            if spec is not None:
                _use_spec(spec)
                if obj.btf_ext is not None:
                    parse_ext(obj.btf_ext, spec)

    run()


def test_fuzz_verifier_log() -> None:
    logs = [p.read_bytes() for p in LOGS]

    @FUZZ
    @given(st.data())
    def run(data: st.DataObject) -> None:
        original = data.draw(st.sampled_from(logs))
        text = data.draw(mutations(original)).decode(errors="replace")
        parsed = parse_log(text)
        assert parsed.raw == text or parsed.raw in text

    run()


def test_fuzz_object_through_the_pipeline(samples: list[Sample]) -> None:
    """read_object + the BTF checks, as `analyse` runs them: a broken ELF raises ObjectError
    (which `analyse` turns into one bad-object Error); a broken .BTF inside a sound ELF is
    one bad-object finding; nothing else escapes."""
    settings_ = Settings()

    @FUZZ
    @given(st.data())
    def run(data: st.DataObject) -> None:
        sample = data.draw(st.sampled_from(samples))
        if data.draw(st.booleans()):
            mutated = data.draw(mutations(sample.raw))
        else:  # same length, in place: the ELF stays sound, its BTF does not
            btf = data.draw(mutations(sample.btf))[: len(sample.btf)].ljust(len(sample.btf), b"\0")
            mutated = sample.raw[: sample.btf_at] + btf + sample.raw[sample.btf_at + len(btf) :]
        findings: list[Finding] = []
        try:
            model = read_object(mutated, settings_, findings, "/src/fuzz.bpf.c")
        except ObjectError:
            return
        bad = [f for f in findings if f.code == "bad-object"]
        assert len(bad) <= 1 and all(f.severity is Severity.ERROR for f in bad)
        if bad:
            assert "could not read the compiled object" in bad[0].message
        if model.checks_context is not None:
            run_checks(model.checks_context)
            culprits(model.checks_context)

    run()


def test_fuzz_verifier_log_to_diagnostics(samples: list[Sample]) -> None:
    """Whatever the kernel's log looks like, a rejected program gets at least one Error."""
    sample = samples[1]
    ext = parse_ext(sample.ext, sample.spec)
    decls = read_declarations(sample.raw)
    ctx = ObjectModel("/src/fuzz.bpf.c", sample.raw, sample.obj, sample.spec, ext, decls)
    logs = [p.read_bytes() for p in LOGS]
    prog = sample.obj.programs[0]

    @FUZZ
    @given(st.data())
    def run(data: st.DataObject) -> None:
        log = data.draw(mutations(data.draw(st.sampled_from(logs)))).decode(errors="replace")
        result = ProgramResult(
            name=prog.name,
            section=prog.section,
            accepted=False,
            failure=Failure.VERIFIER,
            errno=13,
            log=log,
            libbpf_messages=(),
            insns=prog.insns,
            duration_s=0.0,
        )
        found = program_findings(ctx, result)
        assert any(f.severity is Severity.ERROR for f in found)

    run()
