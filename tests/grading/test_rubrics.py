"""Does every answer in words have its rubric, shown beside the answer on the grading page and nowhere else?"""

from __future__ import annotations

import copy

import pytest

from mlops_course.course import notebooks
from mlops_course.course.layout import source_notebook
from mlops_course.grading.rubrics import RUBRIC_DIR, RubricPreprocessor, rubric_sections

from ..conftest import ROOT
from ..labs.mistakes import HANDS_ON


def manual_answers(lab: str) -> list[str]:
    cells = notebooks.read(source_notebook(ROOT, lab)).cells
    return [m["grade_id"] for m in map(notebooks.nbgrader_meta, cells) if m.get("grade") and m.get("solution")]


@pytest.mark.parametrize("lab", HANDS_ON)
def test_every_answer_in_words_has_a_rubric_section(lab):
    """Does autograder/rubrics/<lab>.md have a section for each manually graded answer of the lab, and no other?"""
    sections = rubric_sections((ROOT / RUBRIC_DIR / f"{lab}.md").read_text())
    assert set(sections) == set(manual_answers(lab)), f"{lab}: rubric sections {sorted(sections)}, answers {manual_answers(lab)}"
    assert all(section.startswith("#### Rubric: `") for section in sections.values())


def test_the_rubric_follows_its_answer_on_the_grading_page_only(tmp_path):
    """Does the grading page's rendering put each rubric right after its answer, and feedback's leave the notebook as it was?"""
    lab = "lab01-scoping"
    (tmp_path / f"{lab}.md").write_text((ROOT / RUBRIC_DIR / f"{lab}.md").read_text())
    nb = notebooks.read(source_notebook(ROOT, lab))
    grading_page = {"submission_id": "abc123", "assignment_id": lab, "notebook_id": lab}
    feedback = {"nbgrader": {"assignment": lab, "notebook": lab, "student": "ana"}}
    preprocessor = RubricPreprocessor(rubric_dir=str(tmp_path))
    shown, _ = preprocessor.preprocess(copy.deepcopy(nb), grading_page)
    assert len(shown.cells) == len(nb.cells) + len(manual_answers(lab))
    for i, cell in enumerate(shown.cells):
        if cell.metadata.get("rubric"):
            answer = notebooks.nbgrader_meta(shown.cells[i - 1])
            assert answer.get("grade") and answer.get("solution") and f"`{answer['grade_id']}`" in cell.source
    untouched, _ = preprocessor.preprocess(copy.deepcopy(nb), feedback)
    assert untouched == nb
