"""Does progress report what members' notebooks (or the gradebook) really hold, as a table and a plot by week?

The main check builds a synthetic study group of 8 members from the course's
own labs: each question of each member is put in a known state (not started,
passed, failed, written but not run, answer in words written or not), and
the progress read back must match exactly.
"""

from __future__ import annotations

import random
import shutil
import struct
from pathlib import Path

import nbformat
import pytest

from mlops_course.course import notebooks
from mlops_course.learner import progress
from mlops_course.cli import main
from mlops_course.errors import ProgressError
from mlops_course.course.layout import lab_names, release_notebook, source_notebook
from mlops_course.course.questions import questions
from mlops_course.course.schedule import load_schedule

from ..conftest import KERNEL, ROOT, copy_course

LABS = lab_names(ROOT, "labs")
MEMBERS = [f"member{i}" for i in range(1, 9)]
AUTO_STATES = [progress.NOT_STARTED, progress.PASSED, progress.FAILED, progress.NOT_RUN]


def error_output(message: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("error", ename="AssertionError", evalue=message, traceback=[f"AssertionError: {message}"])


def member_notebook(lab: str, states: dict[str, str]) -> nbformat.NotebookNode:
    """The released lab with each question brought into the state asked for, as a member would have saved it."""
    nb = notebooks.read(release_notebook(ROOT, lab))
    solution = notebooks.read(source_notebook(ROOT, lab))
    for question in questions(nb):
        state = states[question.id]
        if question.manual:
            if state == progress.WRITTEN:
                notebooks.find_cell(nb, question.id).source = "The expected cost counts what each error costs."
            continue
        if state == progress.NOT_STARTED:
            continue
        for answer in question.answers:
            notebooks.find_cell(nb, answer).source = notebooks.find_cell(solution, answer).source
        for count, test in enumerate(question.tests, start=1):
            cell = notebooks.find_cell(nb, test)
            if state in (progress.PASSED, progress.FAILED):
                cell.execution_count = count
            if state == progress.FAILED and count == len(question.tests):
                cell.outputs = [error_output("a visible test failed")]
    return nb


def synthetic_group(folder: Path, seed: int = 7) -> dict[tuple[str, str, str], str]:
    """Write 8 members' notebooks under folder/<member>/<lab>/<lab>.ipynb; return every question's true state.

    member1 has finished everything, member8 has not opened any lab, the
    others are a deterministic mix (some never opened some labs).
    """
    rng = random.Random(seed)
    truth = {}
    for number, member in enumerate(MEMBERS, start=1):
        for lab in LABS:
            found = questions(notebooks.read(release_notebook(ROOT, lab)))
            opened = number == 1 or (number < 8 and rng.random() > 0.15)
            states = {}
            for q in found:
                if number == 1:
                    states[q.id] = progress.WRITTEN if q.manual else progress.PASSED
                elif not opened:
                    states[q.id] = progress.TO_WRITE if q.manual else progress.NOT_STARTED
                else:
                    states[q.id] = rng.choice([progress.WRITTEN, progress.TO_WRITE] if q.manual else AUTO_STATES)
                truth[(member, lab, q.id)] = states[q.id]
            (folder / member).mkdir(parents=True, exist_ok=True)  # the lead's folder for each member
            if opened:
                notebooks.write(member_notebook(lab, states), folder / member / lab / f"{lab}.ipynb")
    return truth


@pytest.fixture(scope="module")
def group(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("study-group")
    return folder, synthetic_group(folder)


def test_progress_of_a_synthetic_group_of_8_matches_their_notebooks(group):
    """Is every member's every question reported in exactly the state their notebook was made in?"""
    folder, truth = group
    found = progress.from_notebooks(folder, progress.lab_notebooks(ROOT / "labs"))
    read_back = {(r.member, r.lab, r.question): r.status for r in found.itertuples()}
    assert read_back == truth
    assert set(found["member"]) == set(MEMBERS), "a member who opened no lab (member8) still appears"
    assert len(set(truth.values())) >= 5, "the synthetic group should cover every state"


def test_the_lab_table_counts_questions_done_per_member(group):
    """Does the table show, per member and lab, the questions done out of the lab's total?"""
    folder, truth = group
    found = progress.from_notebooks(folder, progress.lab_notebooks(ROOT / "labs"))
    table = progress.lab_table(found)
    for member in MEMBERS:
        for lab in LABS:
            states = [s for (m, lab_, _), s in truth.items() if (m, lab_) == (member, lab)]
            done = sum(s in progress.DONE for s in states)
            assert table.loc[member, lab] == f"{done}/{len(states)}"
    assert table.loc["member1", "done"] == "100%" and table.loc["member8", "done"] == "0%"


def test_the_table_lists_who_is_behind_the_plan(group):
    """Given the current week, does the table name the labs due by then that a member has not finished?"""
    folder, truth = group
    found = progress.from_notebooks(folder, progress.lab_notebooks(ROOT / "labs"))
    plan = load_schedule(ROOT).plan("standard")
    last_due = max(plan.due_weeks().get(lab, 0) for lab in LABS)
    table = progress.lab_table(found, plan, week=last_due)
    behind = table[f"behind (week {last_due})"]
    assert behind["member1"] == "-"
    for member in MEMBERS:
        unfinished = sorted({lab_ for (m, lab_, _), s in truth.items() if m == member and s not in progress.DONE
                             and lab_ in plan.due_weeks()})
        assert sorted(x for x in behind[member].split(", ") if x != "-") == unfinished
    before_any = progress.lab_table(found, plan, week=0)
    assert set(before_any["behind (week 0)"]) == {"-"}, "nobody is behind before anything is due"


def test_the_plot_by_week_is_a_png(group, artifacts):
    """Does the plot by week come out as a PNG image with a row per member?"""
    folder, _ = group
    found = progress.from_notebooks(folder, progress.lab_notebooks(ROOT / "labs"))
    schedule = load_schedule(ROOT)
    path = progress.plot_by_week(found, artifacts / "progress" / "study-group-by-week.png",
                                 schedule.plan("standard"), week=2, title_of=schedule.lab_title)
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    assert width > 300 and height > 8 * 30


def test_progress_command_for_a_study_group_prints_the_table_and_saves_the_plot(group, tmp_path, capsys):
    """Does `mlops-course progress DIR --week N` print every member's row and write the plot?"""
    folder, truth = group
    plot = tmp_path / "group.png"
    main(["--root", str(ROOT), "progress", str(folder), "--week", "2", "--plot", str(plot), "--csv", str(tmp_path / "all.csv")])
    out = capsys.readouterr().out
    for member in MEMBERS:
        assert member in out
    assert "behind (week 2)" in out and plot.is_file()
    assert len((tmp_path / "all.csv").read_text().splitlines()) == len(truth) + 1


def test_a_learner_sees_each_question_of_their_own_labs(tmp_path, capsys):
    """Does a learner's own folder show every question's status, lab by lab?"""
    lab = LABS[0]
    found = questions(notebooks.read(release_notebook(ROOT, lab)))
    auto = [q for q in found if not q.manual]
    states = {q.id: (progress.TO_WRITE if q.manual else progress.NOT_STARTED) for q in found}
    states[auto[0].id] = progress.PASSED
    states[auto[1].id] = progress.FAILED
    notebooks.write(member_notebook(lab, states), tmp_path / lab / f"{lab}.ipynb")
    main(["--root", str(ROOT), "progress", str(tmp_path)])
    out = capsys.readouterr().out
    assert f"{lab}: 1 of {len(found)} questions done" in out
    assert f"✔ {auto[0].label}" in out and f"✘ {auto[1].label}" in out


def test_progress_of_a_folder_without_labs_says_what_it_expected(tmp_path):
    """Does pointing progress at the wrong folder explain the layout it looks for?"""
    (tmp_path / "notes").mkdir()
    with pytest.raises(ProgressError, match=r"<member>/<lab>/<lab>\.ipynb"):
        progress.from_notebooks(tmp_path)
    with pytest.raises(ProgressError, match="no folder"):
        progress.from_notebooks(tmp_path / "missing")


@pytest.mark.slow
def test_progress_reads_a_really_executed_notebook_like_the_grader(tmp_path):
    """After really running a lab with one right and one wrong answer, are those two questions passed and failed?"""
    import yaml
    from nbclient import NotebookClient

    lab = LABS[0]
    wrong = (yaml.safe_load((ROOT / "tests" / "labs" / "wrong_answers" / f"{lab}.yml").read_text()) or [])
    nb = notebooks.read(release_notebook(ROOT, lab))
    solution = notebooks.read(source_notebook(ROOT, lab))
    found = [q for q in questions(nb) if not q.manual]
    right = found[0]
    for answer in right.answers:
        notebooks.find_cell(nb, answer).source = notebooks.find_cell(solution, answer).source
    mistake = next(w for w in wrong if w["answer_cell"] not in right.answers)
    mistaken = next(q for q in found if mistake["answer_cell"] in q.answers)
    nb = notebooks.with_answer(nb, mistake["answer_cell"], mistake["code"])
    for answer in mistaken.answers:
        if answer != mistake["answer_cell"]:
            notebooks.find_cell(nb, answer).source = notebooks.find_cell(solution, answer).source
    nb = notebooks.with_parameters(nb, notebooks.CI_PARAMETERS)
    work = tmp_path / "me" / lab
    shutil.copytree(ROOT / "labs" / lab, work, ignore=shutil.ignore_patterns("artifacts"))
    NotebookClient(nb, kernel_name=KERNEL, timeout=300, allow_errors=True,
                   resources={"metadata": {"path": str(work)}}).execute()
    notebooks.write(nb, work / f"{lab}.ipynb")
    statuses = {r.question: r.status for r in progress.from_notebooks(tmp_path).itertuples()}
    assert statuses[right.id] == progress.PASSED
    # A mistake only the hidden tests catch passes the visible ones; either way it is not "not started".
    assert statuses[mistaken.id] in (progress.FAILED, progress.PASSED)
    others = {q.id for q in found} - {right.id, mistaken.id}
    assert {statuses[q] for q in others} == {progress.NOT_STARTED}


def test_progress_from_the_gradebook_matches_the_grades(tmp_path):
    """Does the gradebook view mark full-mark test cells passed, others failed, and unsubmitted labs not started?"""
    from nbgrader.api import Gradebook

    from mlops_course.grading import nbgrader_runs as grading
    from mlops_course.course.config import load_config

    lab = LABS[0]
    course = copy_course(tmp_path / "course", [lab])
    shutil.copytree(ROOT / "labs" / lab, course / "labs" / lab)
    grading.generate_assignment(course, lab)
    found = questions(notebooks.read(source_notebook(ROOT, lab)))
    rng = random.Random(3)
    truth = {}
    config = load_config(course).CourseDirectory
    with Gradebook(config.db_url, config.course_id) as gb:
        for number, member in enumerate(MEMBERS, start=1):
            gb.add_student(member)
            if number == 8:
                truth.update({(member, q.id): progress.TO_WRITE if q.manual else progress.NOT_STARTED for q in found})
                continue  # never submitted
            gb.add_submission(lab, member)
            grades = {g.name: g for nb in gb.find_submission(lab, member).notebooks for g in nb.grades}
            for q in found:
                if q.manual:
                    written = number == 1 or rng.random() > 0.5
                    grades[q.id].needs_manual_grade = written
                    grades[q.id].auto_score = None if written else 0
                    truth[(member, q.id)] = progress.WRITTEN if written else progress.TO_WRITE
                    continue
                passed = number == 1 or rng.random() > 0.4
                for t in q.tests:
                    grades[t].auto_score = grades[t].max_score if passed else 0
                truth[(member, q.id)] = progress.PASSED if passed else progress.FAILED
            gb.db.commit()
    found_progress = progress.collect(course, gradebook=True)
    assert {(r.member, r.question): r.status for r in found_progress.itertuples()} == truth
    table = progress.lab_table(found_progress)
    assert table.loc["member1", "done"] == "100%" and table.loc["member8", "done"] == "0%"


def test_progress_from_a_missing_gradebook_says_nothing_was_graded(tmp_path):
    """Does --gradebook on a course that has graded nothing say so instead of creating an empty database?"""
    lab = LABS[0]
    course = copy_course(tmp_path / "course", [lab])
    with pytest.raises(ProgressError, match="nothing has been graded yet"):
        progress.collect(course, gradebook=True)
    assert not (course / "autograder" / "gradebook.db").exists()
