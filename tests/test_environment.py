"""Do pyproject.toml, constraints.txt and environment.yml describe one environment?"""

from __future__ import annotations

import tomllib

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
