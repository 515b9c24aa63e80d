"""A lab's small class graded by real nbgrader in a process of its own: `python -m tests.labs.grade_class LAB COURSE`.

The lab tests grade each lab's class (the solution, the blank lab and the wrong answers of
`mistakes.graded_for_real`) in the background while other tests run. Grading forks its sandboxed
jobs from the process that grades, and a fork copies only the forking thread: had the suite's
process graded from a background thread, a lock another thread held at that moment (an import,
a log handler) would stay locked in the job forever. Here the grading process forks from its only
thread. It prints what the autograder said of each submission, and what the grading cost in CPU time,
as one JSON line; the scores are in the course's gradebook.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from mlops_course.course import notebooks
from mlops_course.course.layout import release_notebook, source_notebook
from mlops_course.grading import nbgrader_runs as grading
from mlops_course.grading.autograde import autograde

from . import mistakes

GRADING_JOBS = 2


def grade_class(course: Path, lab: str) -> dict:
    """Release the lab, submit the solution, the blank lab and the sampled wrong answers, grade them all.

    Grading goes through the course's sandboxed parallel autograde (two jobs), as an instructor's would.
    Returns the students, and the autograder's reasons for those that lost points or were not graded.
    """
    grading.generate_assignment(course, lab)
    solution = notebooks.read(source_notebook(course, lab))
    blank = notebooks.read(release_notebook(course, lab))
    submissions = {"solution": mistakes.ci_submission(solution), "blank": mistakes.ci_submission(blank)}
    for wrong in mistakes.graded_for_real(lab, solution):
        submissions[wrong.student] = wrong.submission(solution)
    for student, nb in submissions.items():
        grading.submit(course, lab, student, {lab: nb})
    results = autograde(course, lab, jobs=GRADING_JOBS, progress=False)
    return {"students": list(submissions),
            "not_graded": {r.student: r.reasons for r in results if r.status == "not graded"},
            "reasons": {r.student: r.reasons for r in results if r.reasons}}


def cpu_seconds() -> float:
    """This process's CPU time and that of every process it waited for (the grading jobs, their kernels)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


if __name__ == "__main__":
    said = grade_class(Path(sys.argv[2]), sys.argv[1])
    print(json.dumps({**said, "cpu_seconds": cpu_seconds()}))
