"""The plausible wrong answers of tests/labs/wrong_answers/<lab>.yml, and how each is submitted.

Read by the lab tests (grading both ways), the self-check tests and the agreement test, so that
every proof reads the same mistakes the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from nbformat import NotebookNode

from mlops_course.course import notebooks
from mlops_course.proof import shared_prefix
from mlops_course.course.layout import lab_names
from mlops_course.quiz.model import is_quiz

from ..conftest import ROOT

WRONG_ANSWERS = Path(__file__).parent / "wrong_answers"
# Hands-on labs only: lesson quizzes (quiz-<chapter>) have no QUICK parameter or wrong-answer files;
# tests/quiz/test_quiz.py grades every one of their wrong options instead.
LABS = [lab for lab in lab_names(ROOT) if not is_quiz(lab)]
# The labs a learner works in a notebook with a self-check cell (the ones the self-check tests read).
HANDS_ON = [lab for lab in LABS if lab.startswith("lab")]
# Real nbgrader grades this many wrong answers of every lab, beside the solution and the blank lab,
# as it grades one wrong submission of every quiz: the one whose last test cell comes first. The
# shared-prefix route proves all of them, and the agreement test compares the two routes on these (one
# per lab, six in all) and on the solutions, whose every test cell the shared prefix judges after all
# its forks. Each more would be another whole run of the lab in nbgrader (about 250 CPU-seconds for
# all six labs) and prove the same plumbing again.
GRADED_FOR_REAL = 1


@dataclass(frozen=True)
class WrongAnswer:
    lab: str
    number: int
    mistake: str
    answer_cell: str
    loses: tuple[str, ...]
    code: str

    @property
    def student(self) -> str:
        return f"wrong-{self.number:02d}"

    def variant(self) -> shared_prefix.Variant:
        return shared_prefix.Variant(self.student, {self.answer_cell: self.code}, self.loses)

    def submission(self, solution: NotebookNode) -> NotebookNode:
        """The solution with this answer in place and the later editable cells skipped, in CI mode."""
        answered = notebooks.with_answer(solution, self.answer_cell, self.code)
        return ci_submission(notebooks.skipping_after(answered, self.loses))


def wrong_answers(lab: str, folder: Path = WRONG_ANSWERS) -> list[WrongAnswer]:
    path = folder / f"{lab}.yml"
    if not path.exists():
        return []
    entries = yaml.safe_load(path.read_text()) or []
    return [WrongAnswer(lab, i + 1, e["mistake"], e["answer_cell"], tuple(e["loses"]), e["code"])
            for i, e in enumerate(entries)]


def graded_for_real(lab: str, solution: NotebookNode) -> list[WrongAnswer]:
    """The wrong answers real nbgrader grades: those whose last test cell comes first, each in another answer cell."""
    order = {cell.grade_id: cell.index for cell in notebooks.graded_cells(solution)}
    ranked = sorted(wrong_answers(lab), key=lambda w: (max(order[c] for c in w.loses), w.number))
    return list({w.answer_cell: w for w in reversed(ranked)}.values())[::-1][:GRADED_FOR_REAL]


def ci_submission(nb: NotebookNode) -> NotebookNode:
    return notebooks.with_parameters(nb, notebooks.CI_PARAMETERS)


def not_lost(wrong: WrongAnswer, scores: dict[str, float], max_scores: dict[str, float]) -> list[str]:
    """One line per test cell the wrong answer should have failed but still earned points in."""
    return [f"{wrong.lab} {wrong.student} ('{wrong.mistake}' in '{wrong.answer_cell}') "
            f"still earned {scores[cell]}/{max_scores[cell]} in '{cell}'"
            for cell in wrong.loses if scores[cell] != 0]
