"""Is every error a user can meet one of the course's, defined in mlops_course/errors.py?

The command-line tool prints a CourseError as one line and exits with status 1;
anything else shows a traceback, as a bug should. An error class defined in
another module, or a helper that raises a bare `ValueError`, slips past that
rule and past the list of errors in one place. The checks read the package's
source (ast), so they need none of its heavy imports.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

from mlops_course import errors
from mlops_course.errors import CourseError

PACKAGE = Path(errors.__file__).parent
ERRORS_MODULE = Path(errors.__file__)
# Python's own error classes: a module raising one of these directly bypasses the course's family.
BUILTIN_ERRORS = {name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, Exception)}
COURSE_ERRORS = {name for name, value in vars(errors).items() if isinstance(value, type) and issubclass(value, Exception)}


def _base_name(node: ast.expr) -> str:
    """`ValueError` for `ValueError` and for `errors.ValueError`; '' for anything else (a call, a subscript)."""
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else ""


def exception_classes(source: str) -> list[str]:
    """The classes in `source` whose bases name an error: a built-in, a course error, or any *Error or *Exception."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            bases = {_base_name(base) for base in node.bases}
            if bases & (BUILTIN_ERRORS | COURSE_ERRORS) or any(b.endswith(("Error", "Exception")) for b in bases):
                found.append((node.lineno, f"line {node.lineno}: class {node.name}"))
    return [text for _, text in sorted(found)]


def bare_raises(source: str) -> list[str]:
    """The `raise ValueError(...)` (or `raise ValueError`) of built-in errors in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Raise) and node.exc is not None:
            raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(raised, ast.Name) and raised.id in BUILTIN_ERRORS:
                found.append((node.lineno, f"line {node.lineno}: raise {raised.id}"))
    return [text for _, text in sorted(found)]


def _package_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_checks_catch_a_planted_class_and_raise():
    """Would the checks below notice an error class or a bare raise, and leave ordinary code alone?"""
    planted = (
        "class ScheduleProblem(ValueError):\n    pass\n"
        "class Nested(errors.CourseError):\n    pass\n"
        "class Plain:\n    def f(self, x):\n"
        "        if x:\n            raise KeyError(x)\n"
        "        raise NotImplementedError\n"
        "        raise errors.DataError('fine')\n"
        "        raise SystemExit(1)\n"
    )
    assert exception_classes(planted) == ["line 1: class ScheduleProblem", "line 3: class Nested"]
    assert bare_raises(planted) == ["line 8: raise KeyError", "line 9: raise NotImplementedError"]


def test_no_error_class_is_defined_outside_errors_py():
    """Is every error class of the package defined in errors.py, where the CLI's one-line rule covers it?"""
    found = {str(path.relative_to(PACKAGE)): exception_classes(path.read_text())
             for path in _package_modules() if path != ERRORS_MODULE}
    assert {name: classes for name, classes in found.items() if classes} == {}, "move these classes into errors.py"


def test_no_module_raises_a_bare_builtin_error():
    """Does every module raise the course's errors (which are also the matching built-in), never a bare ValueError?"""
    found = {str(path.relative_to(PACKAGE)): bare_raises(path.read_text()) for path in _package_modules()}
    assert {name: raises for name, raises in found.items() if raises} == {}, (
        "raise a CourseError subclass from errors.py (one that also derives from the built-in, for `except ValueError`)"
    )


@pytest.mark.parametrize("name", sorted(COURSE_ERRORS))
def test_every_error_is_a_course_error_that_says_when_it_is_raised(name):
    """Is each class in errors.py a CourseError, documented by when it is raised?"""
    error = getattr(errors, name)
    assert issubclass(error, CourseError)
    assert (error.__doc__ or "").startswith("Raised when"), f"{name}'s docstring should start 'Raised when …'"


def test_a_helper_error_is_also_the_builtin_a_learner_catches():
    """Does `except ValueError` (or KeyError, FileNotFoundError...) around a helper still catch the course's error?"""
    import nbformat

    from mlops_course import data
    from mlops_course.course import notebooks

    with pytest.raises(ValueError, match="unknown table") as caught:
        data.load_table("flight")
    assert isinstance(caught.value, CourseError)
    with pytest.raises(KeyError) as missing:
        notebooks.find_cell(nbformat.v4.new_notebook(), "nope")
    assert str(missing.value).startswith("no cell with grade_id 'nope'"), "the message, not KeyError's quoted repr"
    assert issubclass(errors.ServerTimeoutError, TimeoutError) and issubclass(errors.ServerTimeoutError, RuntimeError)
    assert issubclass(errors.MissingFileError, FileNotFoundError) and issubclass(errors.GradebookExistsError, FileExistsError)
