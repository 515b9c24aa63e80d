"""Do pyproject.toml, constraints.txt and environment.yml describe one environment?"""

from __future__ import annotations

import tomllib

import pytest
import yaml

from .conftest import ROOT, pinned


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for group in project.get("optional-dependencies", {}).values() for r in group]
    return pinned(project["dependencies"] + extras)


def environment_yml_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return pinned([r for r in pip_section if not r.startswith("-")])


def test_environment_yml_names_the_same_packages_as_pyproject():
    """Does environment.yml list exactly the packages and versions of pyproject.toml?"""
    assert environment_yml_requirements() == pyproject_requirements()


def test_environment_yml_uses_python_311():
    """Does the conda environment ask for the Python the course is tested on?"""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]


def test_constraints_pin_every_direct_dependency_at_the_same_version():
    """Does constraints.txt agree with pyproject.toml, so `make lab` installs what was tested?"""
    lines = [line for line in (ROOT / "constraints.txt").read_text().splitlines() if line and not line.startswith("#")]
    constraints = pinned(lines)
    for name, version in pyproject_requirements().items():
        assert constraints.get(name) == version, f"constraints.txt pins {name} at {constraints.get(name)}, pyproject at {version}"


def test_the_slow_unused_format_checker_is_left_out():
    """Is rfc3987-syntax (2.3 CPU-seconds at every nbformat import, see SLOW_UNUSED in the Makefile) left
    out, with notebooks still validated against their schema?"""
    import importlib.util

    import nbformat

    assert importlib.util.find_spec("rfc3987_syntax") is None, (
        "rfc3987-syntax is installed: run `make setup` again, which removes it (SLOW_UNUSED in the Makefile)")
    broken = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    del broken.cells[0]["outputs"]
    with pytest.raises(nbformat.ValidationError):  # notebooks are still checked against nbformat's schema
        nbformat.validate(broken)
