"""Does the course's own code pass its lint configuration (ruff, in pyproject.toml), and can that check fail?"""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT

CHECKED = ["src", "tests", "benchmarks", "classroom/jupyterhub_config.py"]


def ruff(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *args], cwd=cwd,
                          capture_output=True, text=True, check=False)


def test_the_course_code_passes_its_lint_configuration():
    """Does `ruff check` with the project's configuration find nothing in the course's code, tests and benchmarks?"""
    result = ruff(*CHECKED)
    assert result.returncode == 0, f"fix these, or say why with a noqa and a reason:\n{result.stdout}{result.stderr}"


def test_the_configuration_catches_a_blind_except_and_an_unchecked_subprocess(tmp_path):
    """Would a broad except without a reason, or a subprocess whose failure goes unseen, fail the check?"""
    sample = tmp_path / "sample.py"
    sample.write_text("import subprocess\n\n\ndef f():\n    try:\n        subprocess.run(['true'])\n"
                      "    except Exception:\n        pass\n")
    result = ruff("--config", str(ROOT / "pyproject.toml"), str(sample))
    assert result.returncode == 1 and "BLE001" in result.stdout and "PLW1510" in result.stdout, result.stdout
