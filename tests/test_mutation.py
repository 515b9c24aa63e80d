"""Are ML tests graded by what they catch: every broken case for a thorough suite, none for an empty one?"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from mlops_course import mutation
from mlops_course.mutation import MutationError

SUITES = Path(__file__).parent / "mutation_suites"


# Broken cases the learner never sees, as a grader would add them.
def label_threshold_off(honest):
    dataset = honest.dataset.copy()
    dataset["late"] = (dataset["dep_delay"] > 30).astype(int)
    return dataclasses.replace(honest, dataset=dataset)


def ignores_hour(honest):
    return dataclasses.replace(honest, model=mutation.fit_model(honest.dataset, blank=("hour",)))


def unseeded_training(honest):
    rng = np.random.default_rng()
    return dataclasses.replace(
        honest, train_model=lambda frame, seed=0: mutation.fit_model(frame.sample(frac=0.9, random_state=rng), seed))


HIDDEN = {"label_threshold_off": label_threshold_off, "ignores_hour": ignores_hour, "unseeded_training": unseeded_training}


@pytest.fixture(scope="module")
def honest():
    return mutation.honest_subject(fraction=0.02)


def test_thorough_suite_catches_every_case_seen_and_unseen(honest):
    """Does a suite of data, behaviour and infrastructure tests pass honestly and catch all seven broken cases?"""
    report = mutation.mutation_report(SUITES / "thorough.py", honest, {**mutation.CASES, **HIDDEN})
    assert report.honest.passed, report.honest.output
    assert report.caught == dict.fromkeys([*mutation.CASES, *HIDDEN], True), report.table()


def test_empty_suite_catches_nothing(honest):
    """Does a file without tests catch no case, although it 'passes' everywhere?"""
    report = mutation.mutation_report(SUITES / "empty.py", honest)
    assert not report.honest.passed and not any(report.caught.values())
    assert "catch nothing" in str(report)


def test_accuracy_only_suite_misses_the_behaviour_and_schema_cases(honest):
    """Does a suite that only checks accuracy catch the shuffled label and miss the leak, weather and schema?"""
    report = mutation.mutation_report(SUITES / "accuracy_only.py", honest)
    assert report.caught == {"shuffled_label": True, "leaking_column": False, "ignores_weather": False,
                             "schema_change": False}
    assert list(report.table()["caught"]) == [True, False, False, False]


def test_suite_failing_on_the_honest_pipeline_catches_nothing(honest, tmp_path):
    """Does a test that always fails earn nothing, although it 'fails' on every broken case?"""
    tests = tmp_path / "test_always_fails.py"
    tests.write_text("def test_fails(model):\n    assert False\n")
    report = mutation.mutation_report(tests, honest, {"schema_change": mutation.schema_change})
    assert report.caught == {"schema_change": False}
    assert "test_fails" in str(report)


def test_file_that_does_not_import_fails_on_the_honest_pipeline(honest, tmp_path):
    """Is a tests file with an import error a failing run, not a passing one?"""
    tests = tmp_path / "test_broken.py"
    tests.write_text("import no_such_module\n\ndef test_x():\n    pass\n")
    run = mutation.run_tests(tests, honest)
    assert not run.passed and run.failed


def test_edited_file_is_read_again(honest, tmp_path):
    """After the tests file changes, does the next run use the new tests (no stale module)?"""
    tests = tmp_path / "test_edit.py"
    tests.write_text("def test_a(dataset):\n    assert len(dataset) > 0\n")
    assert mutation.run_tests(tests, honest).passed
    tests.write_text("def test_a(dataset):\n    assert len(dataset) == 0\n")
    assert not mutation.run_tests(tests, honest).passed


def test_tests_get_a_fresh_dataset_each(honest, tmp_path):
    """Does a test that changes the dataset leave the next test's copy (and the subject) untouched?"""
    tests = tmp_path / "test_isolation.py"
    tests.write_text("def test_1(dataset):\n    dataset['late'] = 7\n\n"
                     "def test_2(dataset):\n    assert set(dataset['late']) <= {0, 1}\n")
    assert mutation.run_tests(tests, honest).passed
    assert set(honest.dataset["late"]) <= {0, 1}


def test_missing_tests_file_is_named(honest, tmp_path):
    """Is a tests file that does not exist an error naming it?"""
    with pytest.raises(MutationError, match="test_ml.py"):
        mutation.run_tests(tmp_path / "test_ml.py", honest)


def test_a_remembered_fit_cannot_be_changed_by_its_caller(honest):
    """Does breaking the model one caller got leave the model the next caller (say, a hidden test) gets intact?"""
    first = mutation.fit_model(honest.dataset)
    expected = first.predict_proba(honest.dataset)
    first.pipeline.steps.clear()
    first.threshold = 2.0
    again = mutation.fit_model(honest.dataset)
    assert again.threshold != 2.0
    assert (again.predict_proba(honest.dataset) == expected).all()
    again_subject = mutation.honest_subject(fraction=0.02)
    again_subject.dataset.drop(columns=["hour"], inplace=True)
    assert "hour" in mutation.honest_subject(fraction=0.02).dataset.columns


def test_a_fit_kept_on_disk_is_the_fit_another_process_would_make(honest, tmp_path, monkeypatch):
    """With the disk cache named (as the shared-prefix proofs name it), does a fit made in one process come back,
    for a process that has not made it, as the same model, without fitting again; and without it, is nothing kept?"""
    small, cache = honest.dataset.iloc[::4], tmp_path / "cache"
    mutation._fitted.cache_clear()
    made = mutation.fit_model(small, seed=3, max_iter=5)  # no variable: what a learner's kernel fits

    monkeypatch.setenv(mutation.DISK_CACHE_VARIABLE, str(cache))
    mutation._fitted.cache_clear()
    assert (mutation.fit_model(small, seed=3, max_iter=5).predict_proba(small) == made.predict_proba(small)).all()
    assert len(list(cache.iterdir())) == 1

    with monkeypatch.context() as fitting:
        mutation._fitted.cache_clear()  # a fork made before the fit: its memory holds nothing, the disk holds the fit
        fitting.setattr(mutation, "_fit", lambda *args: pytest.fail("a fit kept on disk was made again"))
        again = mutation.fit_model(small, seed=3, max_iter=5)
        assert (again.predict_proba(small) == made.predict_proba(small)).all() and again.threshold == made.threshold
        with pytest.raises(pytest.fail.Exception):  # other settings are another fit, not the one kept
            mutation.fit_model(small, seed=4, max_iter=5)

    monkeypatch.delenv(mutation.DISK_CACHE_VARIABLE)
    mutation._fitted.cache_clear()
    mutation.fit_model(small, seed=5, max_iter=5)
    assert len(list(cache.iterdir())) == 1, "without the variable, a fit must stay in the process's memory"
