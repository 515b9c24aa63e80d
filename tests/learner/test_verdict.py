"""Do the grader, check(), validate and progress give one verdict on answers that write warnings or stderr?

The course's rule (`mlops_course.course.config.cell_passes`): only an error (a failed
assertion, an exception) costs points. A toy lab whose correct answers trigger
warnings of every kind (a pandas deprecation whose class name has a digit, a
scikit-learn ConvergenceWarning with a message over several lines, a learner's
own warning class whose name does not end in "Warning"), MLflow-like log lines
and a learner's own message on stderr is graded for real (the course's
sandboxed autograde), self-checked, validated and read by progress. One wrong
answer shows each route can still fail a question.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import nbformat
import pytest

from mlops_course.grading import autograde
from mlops_course.grading import nbgrader_runs as grading
from mlops_course.course import notebooks
from mlops_course.course.config import cell_passes
from mlops_course.course.scoring import StderrIsNotAnError
from mlops_course.grading.sandbox import Limits

from .. import nbfactory as nbf
from ..conftest import ROOT

LAB = "lab98-warnings"
LEARNER_NOTE = "LEARNER-NOTE-ON-STDERR"
MLFLOW_LINE = "2026/11/23 12:10:36 INFO mlflow.store.db.utils: Updating database tables"
CORRECT = {  # question -> (answer, visible test): every answer is right and writes to stderr
    "weekday": ("import pandas as pd\n\ndef weekday(ts):\n    return ts.dayofweek  # deprecated in pandas 3.1",
                'assert weekday(pd.Timestamp("2024-01-01")) == 0, "Monday is day 0"'),
    "fit_model": ("import numpy as np\nfrom sklearn.linear_model import LogisticRegression\n\n"
                  "def fit_model():\n    X = np.arange(40.0).reshape(-1, 1)\n"
                  "    return LogisticRegression(max_iter=1).fit(X, (X[:, 0] > 20).astype(int))",
                  'assert fit_model().coef_.shape == (1, 1), "one coefficient"'),
    "halve": ("import warnings\n\nclass Careful(UserWarning):\n    pass\n\n"
              "def halve(x):\n    if x % 2:\n        warnings.warn(f'{x} is odd:\\nthe half is not whole', Careful)\n"
              "    return x / 2",
              'assert halve(3) == 1.5, "half of 3 is 1.5"'),
    "shout": (f"import sys\nprint({MLFLOW_LINE!r}, file=sys.stderr)\n\n"
              f"def shout(x):\n    print({LEARNER_NOTE!r}, file=sys.stderr)\n    return x.upper()",
              'assert shout("a") == "A", "shout should upper-case"'),
}
WRONG = ("three", "def three():\n    return 4", 'assert three() == 3, "three() should be 3"')
HIDDEN_LAB = "lab96-hidden"
SECRET = "HIDDEN-SECRET"
LATE_HINT = "exactly 15 minutes late counts as late (>= 15)"


def warnings_lab() -> nbformat.NotebookNode:
    cells = []
    for number, (qid, (answer, test)) in enumerate([*CORRECT.items(), (WRONG[0], WRONG[1:])], start=1):
        cells += [nbf.prompt(f"**Question {number}.** Write `{qid}`.", f"{qid}_prompt"),
                  nbf.answer(answer, qid), nbf.graded_test(test, f"test_{qid}", 1)]
    return nbf.notebook(*cells)


def hidden_lab(late: str = "m >= 15", double: str = "2 * x") -> nbformat.NotebookNode:
    """Two questions with hidden tests: a wrong `late` fails a visible test whose traceback quotes hidden lines;
    a wrong `double` fails only a hidden one."""
    hidden = f"### BEGIN HIDDEN TESTS\nassert {{call}}, '{SECRET} {{what}}'\n### END HIDDEN TESTS"
    return nbf.notebook(
        nbf.prompt("**Question 1.** Write `late(m)`.", "late_prompt"),
        nbf.answer(f"def late(m):\n    return {late}", "late"),
        nbf.graded_test(f'assert late(15), "{LATE_HINT}"\n' + hidden.format(call="not late(14)", what="under"), "test_late"),
        nbf.prompt("**Question 2.** Write `double(x)`.", "double_prompt"),
        nbf.answer(f"def double(x):\n    return {double}", "double"),
        nbf.graded_test('assert double(2) == 4, "double(2) should be 4"\n'
                        + hidden.format(call="double(-3) == -6", what="negative"), "test_double"),
    )


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The toy labs graded by the course's autograde: (course folder, scores by test cell, result of LAB)."""
    course = tmp_path_factory.mktemp("verdict")
    (course / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    for lab, nb, submitted in [(LAB, warnings_lab(), warnings_lab()),
                               (HIDDEN_LAB, hidden_lab(), hidden_lab(late="m > 15", double="abs(2 * x)"))]:
        notebooks.write(nb, course / "solutions" / lab / f"{lab}.ipynb")
        grading.generate_assignment(course, lab)
        grading.submit(course, lab, "wanda", {lab: submitted})
    results = autograde.autograde(course, None, jobs=1, limits=Limits(cell_timeout=60), progress=False)
    [result] = [r for r in results if r.lab == LAB]
    scores = {k: v.score for lab in (LAB, HIDDEN_LAB) for k, v in grading.cell_scores(course, lab, "wanda").items()}
    return course, scores, result


def test_only_an_error_fails_a_cell():
    """Does `cell_passes` fail a cell for an error output and for nothing written to stderr?"""
    stderr = nbformat.v4.new_output("stream", name="stderr", text="x.py:3: Pandas4Warning: deprecated\n  y\n")
    error = nbformat.v4.new_output("error", ename="AssertionError", evalue="wrong", traceback=[])
    assert cell_passes([stderr]) and cell_passes([])
    assert not cell_passes([stderr, error])


def test_stderr_stays_visible_but_is_not_scored():
    """Does the grader's step keep stderr text word for word, where nbgrader no longer scores it as an error?"""
    from nbgrader.utils import has_failed

    cell = nbformat.v4.new_code_cell("f()")
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text=LEARNER_NOTE + "\n")]
    assert has_failed(cell), "nbgrader's own rule would zero this cell"
    nb = nbformat.v4.new_notebook(cells=[cell])
    StderrIsNotAnError().preprocess(nb, {})
    assert not has_failed(nb.cells[0])
    assert [o.text for o in nb.cells[0].outputs] == [LEARNER_NOTE + "\n"]


@pytest.mark.slow
def test_warnings_and_stderr_cost_no_points_in_real_grading(graded):
    """Does every correct answer keep its points, whatever it wrote to stderr, while the wrong one scores zero?"""
    _, scores, result = graded
    assert result.ok, result.reasons
    assert {f"test_{q}": 1.0 for q in CORRECT} | {"test_three": 0.0, "test_late": 0.0, "test_double": 0.0} == scores


@pytest.mark.slow
def test_plain_nbgrader_with_the_course_config_scores_the_same(graded):
    """Does nbgrader's own autograde, configured by nbgrader_config.py (as `nbgrader autograde` runs), give the same scores?"""
    course, scores, _ = graded
    grading.submit(course, LAB, "plain-wanda", {LAB: warnings_lab()})
    grading.autograde_one(course, LAB, "plain-wanda")
    plain = {k: v.score for k, v in grading.cell_scores(course, LAB, "plain-wanda").items()}
    assert plain == {k: v for k, v in scores.items() if k in plain} and len(plain) == len(CORRECT) + 1


@pytest.mark.slow
def test_the_grader_runs_without_the_environment_on_path(graded, tmp_path):
    """Does `.venv/bin/mlops-course autograde` grade when the environment's bin/ is not on PATH (nbgrader runs `alembic`)?"""
    import subprocess
    import sys

    course, _, _ = graded
    grading.submit(course, LAB, "path-pat", {LAB: warnings_lab()})
    tool = Path(sys.executable).parent / "mlops-course"
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "MLFLOW_DISABLE_TELEMETRY": "true"}
    run = subprocess.run([str(tool), "autograde", LAB, "--student", "path-pat", "--no-progress"], cwd=course, env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0 and "alembic" not in run.stderr, run.stderr[-2000:]
    assert grading.cell_scores(course, LAB, "path-pat")["test_weekday"].score == 1.0


@pytest.mark.slow
def test_warnings_and_learner_stderr_are_visible_in_feedback(graded):
    """Does the feedback still show the warnings and the learner's own stderr message?"""
    from mlops_course.grading.feedback import generate_feedback

    course, _, _ = graded
    [page] = generate_feedback(course, LAB, student="wanda")
    text = html.unescape(page.read_text())
    for shown in (LEARNER_NOTE, "Pandas4Warning", "ConvergenceWarning", "Careful: 3 is odd"):
        assert shown in text, f"the feedback does not show {shown}"


@pytest.mark.slow
def test_check_validate_and_progress_agree_with_the_grader(tmp_path):
    """Do check(), validate and progress pass exactly the questions the grader passes?"""
    from mlops_course.learner.progress import PASSED, question_status
    from mlops_course.course.questions import cells_by_id, questions
    from mlops_course.learner.scratch import execute
    from mlops_course.learner.selfcheck import Status, check_notebook
    from mlops_course.learner.validate import validate_notebook

    path = tmp_path / LAB / f"{LAB}.ipynb"
    notebooks.write(warnings_lab(), path)
    report = check_notebook(path)
    assert {r.question.id: r.status for r in report.results} == {q: Status.PASSED for q in CORRECT} | {"three": Status.FAILED}

    validation = validate_notebook(path)
    assert validation.failed == [("Question 5", "AssertionError: three() should be 3")], validation.text()
    assert not validation.errors, validation.text()

    learner = execute(warnings_lab(), path.parent, label=LAB)  # as the learner's own Jupyter saves it
    assert any(o.get("name") == "stderr" and "Pandas4Warning" in o.get("text", "")
               for c in learner.cells for o in c.get("outputs", [])), "the warning should reach stderr here"
    cells = cells_by_id(learner)
    assert {q.id: question_status(q, cells) for q in questions(learner)} == {q: PASSED for q in CORRECT} | {"three": "failed"}


@pytest.mark.slow
def test_feedback_keeps_a_visible_failure_and_shows_no_hidden_test(graded):
    """Does a visible failure keep its message though its traceback quoted hidden lines, with no hidden text or marker shown?"""
    from mlops_course.grading.feedback import HIDDEN_FAILURE, generate_feedback
    from mlops_course.course.notebooks import HIDDEN_TEST_MARKERS

    course, _, _ = graded
    [page] = generate_feedback(course, HIDDEN_LAB, student="wanda")
    text = html.unescape(page.read_text())
    assert LATE_HINT in text, "the visible test's message was replaced"
    assert text.count(HIDDEN_FAILURE) == 1, "only the hidden failure of double() should say a hidden test failed"
    for secret in (SECRET, "not late(14)", "double(-3)", *HIDDEN_TEST_MARKERS):
        assert secret not in text, f"the feedback shows {secret}"
    graded_nb = notebooks.read(course / "autograder" / "autograded" / "wanda" / HIDDEN_LAB / f"{HIDDEN_LAB}.ipynb")
    assert SECRET in str(graded_nb.cells[2].outputs), "the hidden lines were not in the traceback: this test shows nothing"


# --- every message points at the real cause ----------------------------------------------------

def chain_lab() -> nbformat.NotebookNode:
    """Question 2 builds on Question 1's `base`; Question 3 on `data`, made by a read-only cell."""
    return nbf.notebook(
        nbf.prompt("**Question 1.** Write `base()`.", "base_prompt"),
        nbf.answer("def base():\n    return 1", "base"),
        nbf.graded_test('assert base() == 1, "base() should be 1"', "test_base"),
        nbf.prompt("**Question 2.** Write `twice()`.", "twice_prompt"),
        nbf.answer("def twice():\n    return 2 * base()", "twice"),
        nbf.graded_test('assert twice() == 2, "twice() should be 2"', "test_twice"),
        nbformat.v4.new_code_cell("data = [1, 2, 3]"),
        nbf.prompt("**Question 3.** Set `total`.", "total_prompt"),
        nbf.answer("total = sum(data)", "total"),
        nbf.graded_test('assert total == 6, "total should be 6"', "test_total"),
    )


def explained(nb, source: str, with_outputs: bool = False) -> dict:
    from mlops_course.learner.selfcheck import explain, run_visible_tests

    namespace: dict = {}
    exec(source, namespace)
    return {r.question.id: (r.status.value, r.hint) for r in explain(run_visible_tests(nb, namespace), nb, with_outputs)}


def test_a_syntax_error_in_the_answer_is_reported_as_such_not_as_not_run():
    """Does check() say the answer cell raised SyntaxError, where the test only sees an undefined name?"""
    nb = notebooks.with_answer(chain_lab(), "base", "def base(:\n    return 1")
    results = explained(nb, "data = [1, 2, 3]\ntotal = 6")
    status, hint = results["base"]
    assert status == "error" and hint.startswith("your answer cell raised SyntaxError: "), hint
    assert "not defined" not in hint


def test_a_knock_on_failure_names_the_earlier_question_first():
    """Does a question failing because an earlier one it builds on fails say so first, and only then?"""
    results = explained(chain_lab(), "def base():\n    return 5\ndef twice():\n    return 2 * base()\ndata = [1, 2, 3]\ntotal = 6")
    assert results["base"] == ("failed", "base() should be 1")
    assert results["twice"] == ("failed", "Question 1 fails too: fix it first; twice() should be 2")
    assert results["total"] == ("passed", ""), "Question 3 does not build on Question 1"
    independent = explained(chain_lab(), "def base():\n    return 5\ndata = [1, 2, 3]\ntotal = 7")
    assert independent["total"] == ("failed", "total should be 6"), "a question that does not build on Question 1"


def test_a_cell_that_raised_is_named():
    """Is a read-only cell that raised, and that the failing question relies on, named by number and first line?"""
    nb = notebooks.with_answer(chain_lab(), "twice", "def twice():\n    return 2")
    nb.cells[6].source = "data = load_data()"
    nb.cells[6].outputs = [nbformat.v4.new_output("error", ename="NameError", evalue="name 'load_data' is not defined",
                                                  traceback=[])]
    status, hint = explained(nb, "def base():\n    return 1\ndef twice():\n    return 2", with_outputs=True)["total"]
    assert hint.startswith("cell 7 (data = load_data()) raised NameError: name 'load_data' is not defined; "), hint


@pytest.mark.slow
def test_every_tool_reports_a_syntax_error_in_the_answer_cell(tmp_path):
    """Do `mlops-course check` and validate both say the answer cell raised SyntaxError, and the knock-on?"""
    from mlops_course.learner.selfcheck import check_notebook
    from mlops_course.learner.validate import validate_notebook

    path = tmp_path / "lab97-chain" / "lab97-chain.ipynb"
    notebooks.write(notebooks.with_answer(chain_lab(), "base", "def base(:\n    return 1"), path)
    hints = {r.question.id: r.hint for r in check_notebook(path).results}
    assert hints["base"].startswith("your answer cell raised SyntaxError: "), hints
    assert hints["twice"].startswith("Question 1 fails too: fix it first"), hints
    failed = dict(validate_notebook(path).failed)
    assert failed["Question 1"].startswith("your answer cell raised SyntaxError: "), failed
    assert failed["Question 2"].startswith("Question 1 fails too: fix it first"), failed


def test_check_from_the_course_root_suggests_a_path_that_works(tmp_path, monkeypatch):
    """Run from the repository root (papermill without --cwd), does check() name a notebook path that exists from there?"""
    import re

    from mlops_course.errors import SelfCheckError
    from mlops_course.learner.selfcheck import find_notebook

    notebooks.write(chain_lab(), tmp_path / "labs" / "lab97-chain" / "lab97-chain.ipynb")
    (tmp_path / "README.md").write_text("a course")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SelfCheckError, match="papermill --cwd") as error:
        find_notebook({})
    suggested = re.search(r"check\(notebook='([^']+)'\)", str(error.value)).group(1)
    assert find_notebook({}, suggested).resolve() == (tmp_path / "labs" / "lab97-chain" / "lab97-chain.ipynb").resolve()


def test_the_book_says_how_to_run_a_lab_headless():
    """Does "Working on the labs" show papermill runs whose working folder is the lab's own folder?"""
    import re

    page = (ROOT / "book" / "study-group" / "working-on-labs.md").read_text()
    runs = re.findall(r"^papermill --cwd (\S+) (?:-p \w+ \w+ )?(\S+) \S+$", page, re.M)
    assert runs, "no papermill command with --cwd on the page"
    for folder, notebook in runs:
        assert notebook.startswith(folder + "/") and (ROOT / notebook).is_file(), (folder, notebook)


# --- lab hints that read as asked ----------------------------------------------------------------

def lab_cell(lab: str, grade_id: str) -> str:
    return notebooks.find_cell(notebooks.read(ROOT / "solutions" / lab / f"{lab}.ipynb"), grade_id).source


def test_lab01_question1_says_an_extra_column_does_not_leak():
    """With every leaking column plus one known before the flight, does Lab 01 Q1's (hidden) test name the extra one?"""
    import pandas as pd

    measured = ["dep_time", "dep_delay", "arr_time", "arr_delay", "air_time"]
    flights = pd.DataFrame(columns=[*measured, "tailnum", "sched_dep_time", "carrier"])
    for answer, message in [(measured + ["tailnum"], "known before the flight, so they do not leak: ['tailnum']"),
                            (measured[1:], "measured when the aircraft moves are missing: ['dep_time']")]:
        with pytest.raises(AssertionError, match=re.escape(message)):
            exec(lab_cell("lab01-scoping", "test_leaking_columns"), {"flights": flights, "LEAKING_COLUMNS": answer})
    exec(lab_cell("lab01-scoping", "test_leaking_columns"), {"flights": flights, "LEAKING_COLUMNS": measured})


def test_lab02_question11_says_last_months_rate_is_available_as_its_test_expects():
    """Does Lab 02 Q11 say how to treat carrier_late_rate_last_month, the way its solution (and hidden test) does?"""
    prompt = lab_cell("lab02-data", "leaking_features_prompt")
    assert "`carrier_late_rate_last_month`, counts as available" in prompt
    namespace: dict = {}
    exec(lab_cell("lab02-data", "leaking_features"), namespace)
    assert "carrier_late_rate_last_month" not in namespace["LEAKING_FEATURES"]
    assert '"carrier_late_rate_last_month"' not in lab_cell("lab02-data", "test_leaking_features").split("_answer ==")[1]


def test_lab02_question6_says_what_an_all_missing_numeric_column_gets():
    """Does Lab 02 Q6 say an all-missing numeric column gets no range, as the solution and the course's schema do?"""
    import numpy as np
    import pandas as pd

    from mlops_course import schema

    assert 'all missing has no range: it gets neither `"min"` nor `"max"`' in lab_cell("lab02-data", "infer_schema_prompt")
    namespace = {"pd": pd, "require_frame": lambda *args: None}
    exec(lab_cell("lab02-data", "infer_schema"), namespace)
    frame = pd.DataFrame({"temp": [np.nan, np.nan]})
    expected = {"columns": {"temp": {"type": "float", "nullable": True}}}
    assert namespace["infer_schema"](frame) == expected == schema.infer_schema(frame).to_dict()


def test_lab03_question3_passthrough_gets_the_tests_own_hint():
    """With remainder="passthrough", does Lab 03 Q3's visible test give its hint about non-feature columns, not a raw ValueError?"""
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    def build_pipeline(estimator, remainder="passthrough"):
        numbers = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
        prepare = ColumnTransformer([("categories", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["carrier"]),
                                     ("numbers", numbers, ["distance"])], remainder=remainder)
        return Pipeline([("prepare", prepare), ("model", estimator)])

    rows = 80
    train = pd.DataFrame({"carrier": list("ABCD") * (rows // 4), "distance": np.arange(rows, dtype=float) * 10,
                          "dep_delay": np.arange(rows) % 30, "tailnum": [f"N{i}" for i in range(rows)],
                          "late": np.arange(rows) % 2})
    visible = lab_cell("lab03-modeling", "test_build_pipeline").split("### BEGIN HIDDEN TESTS")[0]
    namespace = {"train": train, "np": np, "pd": pd, "Pipeline": Pipeline, "LogisticRegression": LogisticRegression,
                 "FEATURES": ["carrier", "distance"], "CATEGORICAL_FEATURES": ["carrier"], "NUMERIC_FEATURES": ["distance"],
                 "TARGET": "late", "build_pipeline": build_pipeline}
    with pytest.raises(AssertionError, match=re.escape("Columns that are not features (dep_delay!) must be dropped")):
        exec(visible, dict(namespace))
    exec(visible, dict(namespace, build_pipeline=lambda estimator: build_pipeline(estimator, "drop")))
