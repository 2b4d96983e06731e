"""Per-program verifier cache: an edit re-verifies only the programs it changed, and a cached
rejection still lands on the right line after lines moved above it. Real clang, real kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

from kptr_lsp.analysis import Analysis
from kptr_lsp.findings import Severity
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import Settings
from kptr_lsp.verify.cache import CACHE

SOURCE = """\
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

SEC("xdp")
int xdp_good(struct xdp_md *ctx)
{
	__u32 key = ctx->ingress_ifindex;
	__u64 *n = bpf_map_lookup_elem(&hits, &key);

	if (n)
		__sync_fetch_and_add(n, 1);
	return XDP_PASS;
}

SEC("xdp")
int xdp_bad(struct xdp_md *ctx)
{
	__u32 key = ctx->rx_queue_index;
	__u64 *n = bpf_map_lookup_elem(&hits, &key);

	__sync_fetch_and_add(n, 1); /* no NULL check */
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
"""
BAD_LINE = "\t__sync_fetch_and_add(n, 1); /* no NULL check */"


def _save_and_analyse(path: Path, text: str) -> tuple[Analysis, int, int]:
    """Analyse `text` saved at `path` (clang reads the BTF line text from disk, as after a
    save); also how many programs came from the cache and how many were verified afresh."""
    path.write_text(text)
    hits, misses = CACHE.hits, CACHE.misses
    analysis = analyse(str(path), text, Settings())
    return analysis, CACHE.hits - hits, CACHE.misses - misses


def _error_lines(analysis: Analysis) -> list[int]:
    return [f.line for f in analysis.findings if f.severity is Severity.ERROR]


def _line_of(text: str, line: str) -> int:
    return text.splitlines().index(line) + 1


@pytest.mark.usefixtures("kernel")
def test_unchanged_programs_are_not_verified_again(tmp_path: Path) -> None:
    path = tmp_path / "two.bpf.c"
    first, _, _ = _save_and_analyse(path, SOURCE)
    assert _error_lines(first) == [_line_of(SOURCE, BAD_LINE)]

    # The same text again: both programs from the cache, the same findings.
    again, hits, misses = _save_and_analyse(path, SOURCE)
    assert (hits, misses) == (2, 0)
    assert again.findings == first.findings

    # Change only xdp_good: xdp_bad is not verified again and keeps its error.
    edited = SOURCE.replace(
        "__sync_fetch_and_add(n, 1);\n\treturn", "__sync_fetch_and_add(n, 2);\n\treturn", 1
    )
    assert edited != SOURCE
    after, hits, misses = _save_and_analyse(path, edited)
    assert (hits, misses) == (1, 1)
    assert _error_lines(after) == [_line_of(edited, BAD_LINE)]


@pytest.mark.usefixtures("kernel")
def test_cached_rejection_follows_lines_inserted_above(tmp_path: Path) -> None:
    path = tmp_path / "moved.bpf.c"
    _save_and_analyse(path, SOURCE)
    moved = SOURCE.replace(
        'SEC("xdp")\nint xdp_bad', '/* two new lines\n * above it */\nSEC("xdp")\nint xdp_bad'
    )
    analysis, hits, misses = _save_and_analyse(path, moved)
    assert (hits, misses) == (2, 0)  # no instruction changed: nothing re-verified
    want = _line_of(moved, BAD_LINE)
    assert want == _line_of(SOURCE, BAD_LINE) + 2
    assert _error_lines(analysis) == [want]
    # and the kernel's own log, as the cache returns it, names the new line
    bad = next(p for p in analysis.programs if p.name == "xdp_bad")
    assert f"@ moved.bpf.c:{want}" in bad.log


@pytest.mark.usefixtures("kernel")
def test_fixing_the_program_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "fixed.bpf.c"
    _save_and_analyse(path, SOURCE)
    fixed = SOURCE.replace(BAD_LINE, "\tif (n)\n\t\t__sync_fetch_and_add(n, 1);")
    analysis, hits, misses = _save_and_analyse(path, fixed)
    assert (hits, misses) == (1, 1)
    assert _error_lines(analysis) == []
