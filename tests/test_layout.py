"""Does the package keep its layers (import-linter's contracts in pyproject.toml), and can that check fail?"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(project: Path, src: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=project, capture_output=True, text=True, check=False,
                          env={"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(src)})


def test_the_package_keeps_its_layers():
    """Does every module import only from its own concern and the layers below it?"""
    result = lint_imports(ROOT, ROOT / "src")
    assert result.returncode == 0, f"a module imports from a layer it must not know:\n{result.stdout}{result.stderr}"
    assert "0 broken" in result.stdout, result.stdout


def test_an_import_upwards_breaks_the_layers(tmp_path):
    """Would a course module importing grading, or a lab helper importing the class server, fail the check?"""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "mlops_course", src / "mlops_course", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    layout = src / "mlops_course" / "course" / "layout.py"
    layout.write_text(layout.read_text() + "\n\ndef _upwards():\n    from mlops_course.grading import autograde  # noqa: F401\n")
    models = src / "mlops_course" / "models.py"
    models.write_text(models.read_text() + "\n\ndef _upwards():\n    from mlops_course.classroom import server  # noqa: F401\n")
    result = lint_imports(tmp_path, src)
    assert result.returncode == 1, result.stdout
    assert "mlops_course.course.layout -> mlops_course.grading.autograde" in result.stdout, result.stdout
    assert "mlops_course.models -> mlops_course.classroom.server" in result.stdout, result.stdout
