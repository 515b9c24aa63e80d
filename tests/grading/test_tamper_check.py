"""Does the in-kernel tamper check find patches, including ones made after a module was found clean?"""

from __future__ import annotations

import tempfile

import numpy
import pandas
import pytest

from mlops_course.grading import tamper_check


def _as_if_from_a_cell(func):
    """The function, as if a notebook cell had defined it (ipykernel names cells after files in the temp dir)."""
    func.__code__ = func.__code__.replace(co_filename=f"{tempfile.gettempdir()}/ipykernel_1/123.py")
    return func


@pytest.fixture
def restore():
    allclose, equals = numpy.allclose, pandas.DataFrame.equals
    yield
    numpy.allclose, pandas.DataFrame.equals = allclose, equals


def test_patch_after_a_clean_check_is_found(restore):
    """Is a library function replaced after a check that found everything clean reported by the next check?"""
    assert "numpy.allclose" not in tamper_check.findings()
    numpy.allclose = _as_if_from_a_cell(lambda *args, **kwargs: True)
    assert "numpy.allclose" in tamper_check.findings()


def test_patched_method_after_a_clean_check_is_found(restore):
    """Is a method patched on a pandas class after a clean check reported by the next check?"""
    assert not any(f.endswith("DataFrame.equals") for f in tamper_check.findings())
    pandas.DataFrame.equals = _as_if_from_a_cell(lambda self, other: True)
    assert any(f.endswith("DataFrame.equals") for f in tamper_check.findings())


def test_patch_with_an_object_equal_to_everything_is_found(restore):
    """Is a patch found when the replacement claims to be equal to whatever it is compared with?"""
    assert "numpy.allclose" not in tamper_check.findings()

    class EqualToAll:
        def __eq__(self, other):
            return True

        __hash__ = object.__hash__

        def __call__(self, *args, **kwargs):
            return True

    EqualToAll.__module__ = "__main__"  # as a class defined in a notebook cell is
    numpy.allclose = EqualToAll()
    assert "numpy.allclose" in tamper_check.findings()


def test_restored_library_is_clean_again(restore):
    """Once the original is back, does the check stop reporting it?"""
    original = numpy.allclose
    numpy.allclose = _as_if_from_a_cell(lambda *args, **kwargs: True)
    assert "numpy.allclose" in tamper_check.findings()
    numpy.allclose = original
    assert "numpy.allclose" not in tamper_check.findings()


def test_patch_at_the_address_of_a_freed_original_is_found(monkeypatch):
    """Is a patch found even when it is made so that it could sit where the clean original was?

    The cache compares object identities, and CPython reuses the address of a freed object at once:
    replace a function that only its module referenced, let it be freed, then make the patch.
    """
    import types

    module = types.ModuleType("course_helpers_for_the_test")
    exec("def expected_answer():\n    return 42\n", module.__dict__)
    monkeypatch.setitem(__import__("sys").modules, module.__name__, module)
    assert not any(f.startswith(module.__name__) for f in tamper_check.findings())
    module.expected_answer = None  # the original's last reference elsewhere is gone

    def patched():
        return 0

    module.expected_answer = _as_if_from_a_cell(patched)
    del patched
    assert f"{module.__name__}.expected_answer" in tamper_check.findings()
