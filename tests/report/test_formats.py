"""`kptr-lsp check --format sarif|github` as CI runs it: real clang, the real verifier, the
official SARIF 2.1.0 schema (tests/fixtures/sarif-2.1.0.schema.json, see the README there)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kptr_lsp.report.github import command, escape_data, escape_property
from kptr_lsp.report.rules import known_rules
from kptr_lsp.report.sarif import FINGERPRINT_KEY
from kptr_lsp.verify.explanations import catalogue
from tests.expectations import read_expectations

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
REJECTED = EXAMPLES / "rejected.bpf.c"
CLEAN = EXAMPLES / "clean.bpf.c"
SUBPROG = ROOT / "tests/programs/rejected/shared_subprog_two_programs.bpf.c"
SCHEMA = json.loads((ROOT / "tests/fixtures/sarif-2.1.0.schema.json").read_text())


def check(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kptr_lsp", "check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def copy_project(dest: Path, *sources: Path) -> list[Path]:
    """The programs with the headers beside them, in a directory of the test's own."""
    out = []
    for src in sources:
        for item in src.parent.iterdir():
            if item.is_file() and item.suffix == ".h" and not (dest / item.name).exists():
                shutil.copy(item, dest / item.name)
        shutil.copy(src, dest / src.name)
        out.append(dest / src.name)
    return out


def sarif(cwd: Path, *files: str) -> dict[str, Any]:
    proc = check(cwd, "--format", "sarif", *files)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("sarif")
    copy_project(work, REJECTED, CLEAN, SUBPROG)
    return work


@pytest.fixture(scope="module")
def report(project: Path, kernel: None) -> dict[str, Any]:
    return sarif(project, REJECTED.name, CLEAN.name, SUBPROG.name)


def test_sarif_validates_against_the_official_schema(report: dict[str, Any]) -> None:
    jsonschema.Draft4Validator.check_schema(SCHEMA)
    validator = jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(report), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
    assert report["version"] == "2.1.0" and len(report["runs"]) == 1


def test_sarif_rules_cover_codes_and_every_explanation(report: dict[str, Any]) -> None:
    rules = report["runs"][0]["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    for entry in catalogue():
        rule = rules[ids.index(entry.id)]
        assert rule["shortDescription"]["text"] == entry.title
        assert "Fix:" in rule["help"]["text"]
        assert rule["helpUri"].endswith(f"#{entry.id}")
    for code in ("verifier", "toolchain", "kptr-no-dtor", "kernel-lacks", "compile-flags-dropped"):
        assert code in ids
    assert {r.id for r in known_rules()} <= set(ids)


def test_sarif_results_point_at_the_kernels_line_with_the_leak_exit(
    report: dict[str, Any],
) -> None:
    run = report["runs"][0]
    results = run["results"]
    rules = run["tool"]["driver"]["rules"]
    line = next(e.line for e in read_expectations(REJECTED).expects if e.severity == 1)
    leak = [r for r in results if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            == REJECTED.name]  # fmt: skip
    assert len(leak) == 1, results
    (leak_result,) = leak
    assert leak_result["ruleId"] == "reference-leak"
    assert rules[leak_result["ruleIndex"]]["id"] == "reference-leak"
    assert leak_result["level"] == "error"
    assert leak_result["locations"][0]["physicalLocation"]["region"]["startLine"] == line
    assert "Unreleased reference" in leak_result["message"]["text"]
    exits = [r["physicalLocation"]["region"]["startLine"] for r in leak_result["relatedLocations"]]
    related = read_expectations(REJECTED).related_lines or exits
    assert set(exits) & set(related), (exits, related)
    assert all(
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        for r in results
    )
    # The clean file has no result; the shared subprogram's error names both programs.
    assert not [r for r in results if CLEAN.name in json.dumps(r["locations"])]
    shared = [r for r in results if SUBPROG.name in json.dumps(r["locations"])]
    errors = [r for r in shared if r["level"] == "error"]
    assert errors and len(errors[0]["properties"]["programs"]) == 2


def _by_fingerprint(doc: dict[str, Any]) -> dict[str, tuple[str, int]]:
    out = {}
    for r in doc["runs"][0]["results"]:
        loc = r["locations"][0]["physicalLocation"]
        out[r["partialFingerprints"][FINGERPRINT_KEY]] = (r["ruleId"], loc["region"]["startLine"])
    return out


def test_fingerprints_survive_lines_inserted_above(
    tmp_path: Path, report: dict[str, Any], project: Path
) -> None:
    before = _by_fingerprint(report)
    assert len(before) == len(report["runs"][0]["results"])  # unique per result
    for name in (REJECTED.name, SUBPROG.name):
        path = project / name
        edited = tmp_path / name
        copy_project(tmp_path, path)
        text = path.read_text()
        edited.write_text("// SPDX-License-Identifier: GPL-2.0\n/* reformatted */\n\n" + text)
    for item in project.iterdir():
        if item.suffix == ".h" or item.name == CLEAN.name:
            shutil.copy(item, tmp_path / item.name)
    after = _by_fingerprint(sarif(tmp_path, REJECTED.name, CLEAN.name, SUBPROG.name))
    assert after.keys() == before.keys()
    for fp, (rule, line) in before.items():
        assert after[fp] == (rule, line + 3)


def test_github_annotations(project: Path, kernel: None) -> None:
    proc = check(project, "--format", "github", REJECTED.name, CLEAN.name)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = next(e.line for e in read_expectations(REJECTED).expects if e.severity == 1)
    (annotation,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("::error ")]
    m = re.fullmatch(r"::error file=([^,]+),line=(\d+),col=(\d+),title=([^:]+)::(.*)", annotation)
    assert m, annotation
    assert m[1] == REJECTED.name and int(m[2]) == line
    assert m[4] == "kptr-lsp reference-leak"
    message = m[5]
    assert "\n" not in message and "%0A" in message  # one line; newlines escaped
    assert message.startswith("Unreleased reference")
    assert f"{REJECTED.name}:" in message  # the leak's exit, as a note line


def test_github_escaping_follows_the_toolkit() -> None:
    # @actions/core: escapeData %, \r, \n; escapeProperty also : and ,
    assert escape_data("100% done\r\nnext: a,b") == "100%25 done%0D%0Anext: a,b"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert command("warning", {"file": "x,y.c", "line": 3}, "m:1\n2") == (
        "::warning file=x%2Cy.c,line=3::m:1%0A2"
    )


def test_sarif_paths_are_uri_references(tmp_path: Path) -> None:
    """A path with a space or a `#` is percent-encoded (a URI), and still validates."""
    import io

    from kptr_lsp.analysis import Analysis
    from kptr_lsp.findings import Finding, Location, Severity, Source
    from kptr_lsp.report import FileReport
    from kptr_lsp.report.sarif import SarifWriter

    path = tmp_path / "my progs#1" / "a.bpf.c"
    finding = Finding(Location(str(path), 3, 5), Severity.WARNING, Source.CLANG, "m", "-Wall")
    out = io.StringIO()
    writer = SarifWriter(out, str(tmp_path))
    writer.file(FileReport(str(path), Analysis(str(path), "a\nb\nc\n", (finding,))))
    writer.close()
    doc = json.loads(out.getvalue())
    (result,) = doc["runs"][0]["results"]
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "my%20progs%231/a.bpf.c"
    assert result["ruleId"] == "-Wall" and result["level"] == "warning"
    jsonschema.Draft4Validator(SCHEMA).validate(doc)


def test_sarif_columns_count_code_points_after_non_ascii_text(tmp_path: Path) -> None:
    """clang counts bytes; the SARIF run says `unicodeCodePoints`, so a column after UTF-8
    text on the same line is converted, or code scanning underlines the wrong token."""
    line = '\tconst char *tag = "ключ"; return missing_counter;'
    src = tmp_path / "utf8.bpf.c"
    src.write_text(
        '#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\nSEC("xdp")\n'
        f"int prog(struct xdp_md *ctx)\n{{\n{line}\n}}\n"
        'char LICENSE[] SEC("license") = "GPL";\n'
    )
    proc = check(tmp_path, "--format", "sarif", src.name)
    doc = json.loads(proc.stdout)
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    assert doc["runs"][0]["columnKind"] == "unicodeCodePoints"
    errors = [r for r in doc["runs"][0]["results"] if "missing_counter" in r["message"]["text"]]
    assert errors, doc["runs"][0]["results"]
    region = errors[0]["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] == 6
    assert region["startColumn"] == line.index("missing_counter") + 1
    assert line.encode().index(b"missing_counter") + 1 != region["startColumn"]
