"""Small nbgrader notebooks made in code, for tests that need exact control over cells and outputs."""

from __future__ import annotations

import nbformat
from nbformat import NotebookNode


def _meta(grade_id: str, **flags) -> dict:
    base = {"grade": False, "solution": False, "locked": False, "schema_version": 3, "grade_id": grade_id}
    return {"nbgrader": {**base, **flags}}


def prompt(text: str, grade_id: str) -> NotebookNode:
    return nbformat.v4.new_markdown_cell(text, metadata=_meta(grade_id, locked=True))


def answer(source: str, grade_id: str) -> NotebookNode:
    return nbformat.v4.new_code_cell(source, metadata=_meta(grade_id, solution=True))


def graded_test(source: str, grade_id: str, points: float = 1) -> NotebookNode:
    return nbformat.v4.new_code_cell(source, metadata=_meta(grade_id, grade=True, locked=True, points=points))


def manual(text: str, grade_id: str, points: float = 2) -> NotebookNode:
    return nbformat.v4.new_markdown_cell(text, metadata=_meta(grade_id, grade=True, solution=True, points=points))


def notebook(*cells: NotebookNode) -> NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    nb.metadata["kernelspec"] = {"name": "mlops-course", "display_name": "Python (MLOps course)", "language": "python"}
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"
    return nb


def toy_lab() -> NotebookNode:
    """Three questions: `double` (with a hidden test), `LIMIT` (two test cells) and an answer in words."""
    return notebook(
        nbformat.v4.new_markdown_cell("# Lab 99 — Toy: a lab for tests"),
        prompt("**Question 1.** Write `double(x)`.", "double_prompt"),
        answer("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION", "double"),
        graded_test('assert double(2) == 4, "double(2) should be 4"\n'
             "### BEGIN HIDDEN TESTS\n"
             'assert double(-3) == -6, "HIDDEN-SECRET negative numbers"\n'
             "### END HIDDEN TESTS", "test_double", 2),
        prompt("**Question 2.** Set `LIMIT` to 10.", "limit_prompt"),
        answer("### BEGIN SOLUTION\nLIMIT = 10\n### END SOLUTION", "limit"),
        graded_test('_seen = LIMIT\nassert isinstance(LIMIT, int), "LIMIT should be a whole number"', "test_limit_type", 1),
        graded_test('assert LIMIT >= 10, f"LIMIT is {LIMIT}; it should be at least 10"', "test_limit_value", 1),
        prompt("**Question 3 (answer in words).** Why?", "why_prompt"),
        manual("YOUR ANSWER HERE", "why", 2),
    )


TOY_LAB = "lab99-toy"


def toy_course(dest):
    """A throwaway course whose only lab is `toy_lab()` (graded in seconds), with the repository's nbgrader config."""
    import shutil
    from pathlib import Path

    from mlops_course.course import notebooks

    dest = Path(dest)
    (dest / "solutions" / TOY_LAB).mkdir(parents=True)
    shutil.copy(Path(__file__).resolve().parents[1] / "nbgrader_config.py", dest / "nbgrader_config.py")
    notebooks.write(toy_lab(), dest / "solutions" / TOY_LAB / f"{TOY_LAB}.ipynb")
    return dest


def toy_submission(why: str = "YOUR ANSWER HERE", limit: int = 10) -> NotebookNode:
    """A student's toy lab: the solution, with `why` as the written answer and `LIMIT = limit`."""
    nb = toy_lab()
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "why":
            cell.source = why
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "limit":
            cell.source = f"LIMIT = {limit}"
    return nb


def graded_toy_class(dest):
    """A toy course where ana (a written answer nobody has graded yet) and bo (`LIMIT = 3`, no written answer)
    handed in and were autograded: (course, results)."""
    from mlops_course.grading import autograde
    from mlops_course.grading import nbgrader_runs as grading

    course = toy_course(dest)
    grading.submit(course, TOY_LAB, "ana", {TOY_LAB: toy_submission(why="Because doubling is linear.")})
    grading.submit(course, TOY_LAB, "bo", {TOY_LAB: toy_submission(limit=3)})
    return course, autograde.autograde(course, TOY_LAB, jobs=2, progress=False)


def notebooks_json(nb: NotebookNode) -> str:
    """A notebook as the text of its .ipynb file (for zips and raw writes)."""
    return nbformat.writes(nb)
