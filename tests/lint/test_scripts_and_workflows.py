"""Static checks of what this machine cannot run for real, and of the scripts that drive CI.

The kind workflow (.github/workflows/*.yml) only runs on GitHub: it is validated against the
GitHub Actions workflow schema (check-jsonschema's vendored SchemaStore copy, offline). Every
shell script (the test command, the e2e driver, benchmarks, the demo's lock scripts) must pass
shellcheck at its default severity. Each check is also shown to fail on a known-bad input.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SHELLCHECK = BIN / "shellcheck"
CHECK_JSONSCHEMA = BIN / "check-jsonschema"


def _tracked(*patterns: str) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--", *patterns], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return sorted(p for p in out.splitlines() if p)


def _shell_scripts() -> list[str]:
    """Tracked *.sh files and extensionless files starting with a bash/sh shebang."""
    found = set(_tracked("*.sh"))
    for p in _tracked("scripts", ".ci", "e2e"):
        path = ROOT / p
        if path.suffix == "" and path.is_file():
            first = path.read_bytes()[:64]
            if first.startswith(b"#!") and (b"bash" in first or b"/sh" in first):
                found.add(p)
    return sorted(found)


SCRIPTS = _shell_scripts()
WORKFLOWS = _tracked(".github/workflows/*.yml", ".github/workflows/*.yaml")


def _shellcheck(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SHELLCHECK), "--format=gcc", "--external-sources", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def _check_workflow(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
    )


def test_the_checkers_and_their_inputs_are_there() -> None:
    assert SHELLCHECK.is_file(), f"{SHELLCHECK} missing: run scripts/setup-python.sh"
    assert CHECK_JSONSCHEMA.is_file(), f"{CHECK_JSONSCHEMA} missing: run scripts/setup-python.sh"
    for expected in ("scripts/test.sh", "e2e/run.sh", ".ci/run"):
        assert expected in SCRIPTS, f"{expected} not found among {SCRIPTS}"
    assert ".github/workflows/e2e.yml" in WORKFLOWS, WORKFLOWS


@pytest.mark.parametrize("script", SCRIPTS)
def test_shell_script_passes_shellcheck(script: str) -> None:
    r = _shellcheck(ROOT / script)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_workflow_matches_the_github_actions_schema(workflow: str) -> None:
    r = _check_workflow(ROOT / workflow)
    assert r.returncode == 0, r.stdout + r.stderr


def test_shellcheck_fails_an_unquoted_cd(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sh"
    bad.write_text('#!/usr/bin/env bash\ndir=$1\ncd $dir\nrm -rf $dir/*\n')
    r = _shellcheck(bad)
    assert r.returncode != 0 and "SC2086" in r.stdout, r.stdout + r.stderr


def test_the_workflow_schema_fails_a_job_without_runs_on(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  e2e:\n    steps:\n      - run: echo hi\n")
    r = _check_workflow(bad)
    assert r.returncode != 0, r.stdout + r.stderr
