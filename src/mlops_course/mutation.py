"""Grade ML tests by what they catch: run them on the honest pipeline and on deliberately broken ones.

A test suite that passes proves little: an empty file passes too. What counts
is whether the tests *fail* when something is wrong (mutation testing). Lab 06
has learners write pytest tests of data, model behaviour and infrastructure
(Breck et al. 2017; Ribeiro et al. 2020); the grader runs that file once on the
honest subject, where every test must pass, and once per broken case (a
shuffled label, a leaking column, a model that ignores the weather, a schema
change, and cases the learner has not seen). A case is *caught* when at least
one test fails on it.

The tests see the subject through four pytest fixtures, which this module
provides (a file that defines its own ``model`` fixture tests its own model, and catches nothing):

- ``dataset``: the modeling table (ids, features, ``dep_delay``, target ``late``), a fresh copy per test;
- ``model``: a fitted model with ``predict_proba(frame)``, ``predict(frame)``, ``threshold`` and
  ``features`` (the columns it reads);
- ``train_model``: ``train_model(frame, seed)`` trains a model the way the pipeline does;
- ``schema``: the reviewed ``mlops_course.schema.Schema`` of the features and target.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
import sys
import tempfile
import types
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from mlops_course.datasets import (
    FEATURES,
    TARGET,
    TRAIN_MONTHS,
    VALIDATION_MONTHS,
    WEATHER_COLUMNS,
    build_dataset,
    split_by_months,
)
from mlops_course.errors import MutationError
from mlops_course.schema import Schema

FIXTURES = ("dataset", "model", "train_model", "schema")
# A folder where fits and samples are also kept on disk, for processes forked from one another
# (the shared-prefix proofs: each wrong answer's fork would otherwise fit the same models again).
# Unset, as for learners and real grading, everything stays in the process's memory.
DISK_CACHE_VARIABLE = "MLOPS_COURSE_MUTATION_CACHE"


class Model:
    """A fitted pipeline that reads ``features`` of a frame; ``blank`` columns are hidden from it (always 0).

    Honest and broken models are the same class, so a test cannot tell them apart by their type.
    """

    def __init__(self, pipeline, threshold: float, features: list[str], blank: tuple[str, ...] = ()):
        self.pipeline, self.threshold, self.features, self.blank = pipeline, threshold, list(features), tuple(blank)

    def _inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        inputs = frame[self.features].copy()
        for column in self.blank:
            inputs[column] = 0.0
        return inputs

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """The probability that each flight leaves 15 minutes late or more."""
        return self.pipeline.predict_proba(self._inputs(frame))[:, 1]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """1 where the model warns (probability at or above its threshold)."""
        return (self.predict_proba(frame) >= self.threshold).astype(int)


def fit_model(dataset: pd.DataFrame, seed: int = 0, features: list[str] | None = None,
              blank: tuple[str, ...] = (), max_iter: int = 40) -> Model:
    """Train on the first eight months, choose the threshold on September-October (as the pipeline does).

    Training is deterministic, so a fit is remembered by the data's content and the settings: the
    self-check and the grader build the same broken models the lab already built. Each caller gets its
    own copy of the model.
    """
    return pickle.loads(_fitted(_ByContent(dataset), int(seed), tuple(features or FEATURES), tuple(blank),
                                int(max_iter)))


class _ByContent:
    """A table that hashes and compares by its content, so that lru_cache can key on it."""

    def __init__(self, frame: pd.DataFrame):
        from mlops_course.datasets import fingerprint

        self.frame, self.key = frame, fingerprint(frame)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other) -> bool:
        return isinstance(other, _ByContent) and other.key == self.key


# Remembered as pickled bytes, which nothing can change in place: graded notebooks run in the same
# process, and a remembered model they could alter would change what the hidden tests measure.
@lru_cache(maxsize=32)
def _fitted(data: _ByContent, seed: int, features: tuple[str, ...], blank: tuple[str, ...], max_iter: int) -> bytes:
    """One OpenMP thread: on a busy two-core machine more threads spin against each other and a fit
    that takes a second takes twenty."""
    def fit() -> bytes:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            return pickle.dumps(_fit(data.frame, seed, list(features), blank, max_iter))

    return _on_disk(("fit", data.key, seed, features, blank, max_iter), fit)


def _on_disk(key: tuple, make: Callable[[], bytes]) -> bytes:
    """`make()`, kept in the folder named by DISK_CACHE_VARIABLE (if set) under a hash of `key`.

    Only deterministic work is kept: the bytes read back are the bytes `make()` would give. A file
    appears whole or not at all (written aside, then renamed), so a process killed while writing
    leaves nothing half-written for the next.
    """
    folder = os.environ.get(DISK_CACHE_VARIABLE)
    if not folder:
        return make()
    import hashlib

    path = Path(folder) / f"{hashlib.sha256(repr(key).encode()).hexdigest()}.pickle"
    if path.exists():
        return path.read_bytes()
    made = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    aside.write_bytes(made)
    os.replace(aside, path)
    return made


def _fit(dataset: pd.DataFrame, seed: int, features: list[str] | None, blank: tuple[str, ...], max_iter: int) -> Model:
    from mlops_course.models import best_threshold, build_pipeline

    features = list(features or FEATURES)
    splits = split_by_months(dataset, train=TRAIN_MONTHS, validation=VALIDATION_MONTHS)
    untrained = Model(None, 0.5, features, blank)
    pipeline = build_pipeline(max_iter=max_iter, seed=seed)
    pipeline.fit(untrained._inputs(splits["train"]), splits["train"][TARGET].to_numpy(dtype=int))
    model = Model(pipeline, 0.5, features, blank)
    model.threshold = best_threshold(splits["validation"][TARGET].to_numpy(dtype=int), model.predict_proba(splits["validation"]))
    return model


@dataclass(frozen=True)
class Subject:
    """What the tests are run against: the values of the four fixtures."""

    dataset: pd.DataFrame
    model: Model
    train_model: Callable[[pd.DataFrame, int], Model]
    schema: Schema


def honest_subject(fraction: float = 0.02, seed: int = 0) -> Subject:
    """The honest pipeline's data, model and training function on a per-month sample of the flights.

    The sample is built once per (fraction, seed), and each caller gets its own copy of it.
    """
    from mlops_course.stages import reference_schema

    dataset = pickle.loads(_sample(float(fraction), int(seed)))
    return Subject(dataset, fit_model(dataset, seed), train_model, reference_schema())


@lru_cache(maxsize=4)
def _sample(fraction: float, seed: int) -> bytes:
    return _on_disk(("sample", fraction, seed), lambda: pickle.dumps(build_dataset(fraction=fraction, seed=seed)[0]))


def train_model(frame: pd.DataFrame, seed: int = 0) -> Model:
    """The honest pipeline's training, as the ``train_model`` fixture gives it to the tests."""
    return fit_model(frame, seed)


# The broken cases Lab 06 shows the learner. Each takes the honest subject and breaks one thing.
def shuffled_label(honest: Subject) -> Subject:
    """The target column was shuffled (a bad join or sort): labels no longer belong to their flights."""
    dataset = honest.dataset.copy()
    dataset[TARGET] = np.random.default_rng(1).permutation(dataset[TARGET].to_numpy())
    return dataclasses.replace(honest, dataset=dataset, model=fit_model(dataset))


def leaking_column(honest: Subject) -> Subject:
    """The model was trained with the departure delay, which is only known after the flight left."""
    return dataclasses.replace(honest, model=fit_model(honest.dataset, features=FEATURES + ["dep_delay"]))


def ignores_weather(honest: Subject) -> Subject:
    """The weather join silently failed: the model never sees any weather."""
    return dataclasses.replace(honest, model=fit_model(honest.dataset, blank=tuple(WEATHER_COLUMNS)))


def schema_change(honest: Subject) -> Subject:
    """An upstream export now writes the scheduled hour as text ("07"); pandas reads it without complaint."""
    dataset = honest.dataset.copy()
    dataset["hour"] = dataset["hour"].map(lambda hour: f"{hour:02d}")
    return dataclasses.replace(honest, dataset=dataset)


CASES: dict[str, Callable[[Subject], Subject]] = {
    "shuffled_label": shuffled_label,
    "leaking_column": leaking_column,
    "ignores_weather": ignores_weather,
    "schema_change": schema_change,
}


@dataclass
class TestRun:
    """The outcome of one run of a tests file: each test's outcome and pytest's exit code."""

    exit_code: int
    outcomes: dict[str, str] = field(default_factory=dict)
    output: str = ""

    @property
    def passed(self) -> bool:
        """Every test passed and there was at least one (an empty file proves nothing)."""
        return self.exit_code == 0 and bool(self.outcomes)

    @property
    def failed(self) -> list[str]:
        return [name for name, outcome in self.outcomes.items() if outcome != "passed"]


class _Fixtures:
    """A pytest plugin that gives the tests the subject's values, and records each test's outcome."""

    def __init__(self, subject: Subject):
        self.subject = subject
        self.outcomes: dict[str, str] = {}

    @staticmethod
    def _name(report) -> str:
        return report.nodeid.split("::", 1)[-1]

    def pytest_runtest_logreport(self, report):
        name = self._name(report)
        if report.failed:
            self.outcomes[name] = "failed" if report.when == "call" else "error"
        elif report.when == "call" or (report.when == "setup" and report.skipped):
            self.outcomes.setdefault(name, "skipped" if report.skipped else "passed")

    def pytest_collectreport(self, report):
        if report.failed:
            self.outcomes[f"collecting {report.nodeid}"] = "error"


def _fixtures_plugin(subject: Subject) -> tuple[_Fixtures, types.ModuleType]:
    """The recorder and a plugin module with the four fixtures (pytest reads fixtures from plugin modules)."""
    import pytest

    recorder = _Fixtures(subject)
    plugin = types.ModuleType(f"mlops_course_mutation_fixtures_{id(recorder)}")

    @pytest.fixture
    def dataset():
        return subject.dataset.copy()

    @pytest.fixture(scope="session")
    def model():
        return subject.model

    @pytest.fixture(scope="session")
    def train_model():
        return subject.train_model

    @pytest.fixture(scope="session")
    def schema():
        return subject.schema

    for function in (dataset, model, train_model, schema):
        setattr(plugin, function.__name__, function)
    return recorder, plugin


def run_tests(tests: Path, subject: Subject) -> TestRun:
    """Run the pytest file ``tests`` in this process with the subject's fixtures; quiet, one thread.

    The course's own pytest settings are not read (``-c`` an empty file), so that the learner's file is
    run the same way everywhere. A file that does not import or defines no test counts as failing.
    """
    import pytest
    from threadpoolctl import threadpool_limits

    tests = Path(tests).resolve()
    if not tests.is_file():
        raise MutationError(f"there is no tests file {tests}; write your tests there first")
    for name, module in list(sys.modules.items()):  # a file edited since the last run is read again
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and file.endswith(tests.name) and Path(file).resolve() == tests:
            del sys.modules[name]
    recorder, plugin = _fixtures_plugin(subject)
    output = io.StringIO()
    with tempfile.TemporaryDirectory() as empty:
        ini = Path(empty) / "pytest.ini"
        ini.write_text("[pytest]\n")
        args = [str(tests), "-q", *_NO_PLUGINS, "--import-mode=importlib", "-c", str(ini),
                "--rootdir", str(tests.parent), "-W", "ignore"]
        with threadpool_limits(1), redirect_stdout(output), redirect_stderr(output), _no_plugin_autoload():
            code = int(pytest.main(args, plugins=[recorder, plugin]))
    return TestRun(code, recorder.outcomes, output.getvalue())


# pytest's plugins a learner's tests never need. Above all `unraisableexception`: at the end of every
# run it calls gc.collect() several times, which in a notebook's kernel full of pandas, scikit-learn and
# MLflow objects costs about a second, and a mutation report runs the tests a dozen times.
_NO_PLUGINS = [arg for name in ("cacheprovider", "unraisableexception", "threadexception", "faulthandler",
                                "pastebin", "junitxml", "doctest", "stepwise", "setuponly", "setupplan")
               for arg in ("-p", f"no:{name}")]


@contextmanager
def _no_plugin_autoload():
    """Run pytest without the plugins installed in the environment: faster, and the same everywhere."""
    before = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = before


@dataclass
class MutationReport:
    """Which broken cases a tests file caught; nothing counts unless the tests pass on the honest subject."""

    honest: TestRun
    runs: dict[str, TestRun]

    @property
    def caught(self) -> dict[str, bool]:
        return {name: self.honest.passed and not run.passed for name, run in self.runs.items()}

    def table(self) -> pd.DataFrame:
        """One row per case: caught or not, and which tests failed on it."""
        rows = [{"case": name, "caught": self.caught[name], "failing tests": ", ".join(run.failed)}
                for name, run in self.runs.items()]
        return pd.DataFrame(rows, columns=["case", "caught", "failing tests"])

    def __str__(self) -> str:
        if not self.honest.passed:
            why = ", ".join(self.honest.failed) or f"pytest exit code {self.honest.exit_code} (no test ran?)"
            return f"the tests do not pass on the honest pipeline ({why}), so they catch nothing"
        caught = [name for name, hit in self.caught.items() if hit]
        return f"caught {len(caught)} of {len(self.runs)} broken cases: {', '.join(caught) or 'none'}"


def mutation_report(tests: Path, honest: Subject, cases: dict[str, Callable[[Subject], Subject]] | None = None,
                    honest_run: TestRun | None = None) -> MutationReport:
    """Run ``tests`` on the honest subject (unless its ``honest_run`` is given), then on each broken case."""
    cases = CASES if cases is None else cases
    honest_run = run_tests(tests, honest) if honest_run is None else honest_run
    runs = {name: run_tests(tests, make(honest)) for name, make in cases.items()}
    return MutationReport(honest_run, runs)
