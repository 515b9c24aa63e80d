"""Does the in-kernel tamper check find patches, including ones made after a module was found clean?"""

from __future__ import annotations

import tempfile

import numpy
import pandas
import pytest

from mlops_course import tamper_check


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


def test_restored_library_is_clean_again(restore):
    """Once the original is back, does the check stop reporting it?"""
    original = numpy.allclose
    numpy.allclose = _as_if_from_a_cell(lambda *args, **kwargs: True)
    assert "numpy.allclose" in tamper_check.findings()
    numpy.allclose = original
    assert "numpy.allclose" not in tamper_check.findings()
