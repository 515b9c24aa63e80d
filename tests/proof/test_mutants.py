"""The mutation report (mlops_course.proof.mutants): its slips, and that it finds a weakness planted in a lab's tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from mlops_course.proof import mutants
from mlops_course.course import notebooks
from mlops_course.errors import CourseError

from ..conftest import ROOT

ANSWER = '''def f(values, limit):
    ### BEGIN SOLUTION
    total = values.sum() + 1
    kept = [v for v in values if v >= limit]
    frame = make(kept, dtype=float)
    return total * 2.5
    ### END SOLUTION
'''


def changes(source: str, kind: str) -> set[tuple[str, str]]:
    return {(s.before, s.after) for s in mutants.slips("answer", source) if s.kind == kind}


def test_each_kind_makes_its_change():
    """Does every kind of slip change exactly what it says, on the line it names?"""
    assert changes(ANSWER, "comparison") == {("kept = [v for v in values if v >= limit]", "kept = [v for v in values if v > limit]")}
    assert changes(ANSWER, "arithmetic") == {("total = values.sum() + 1", "total = values.sum() - 1"),
                                             ("return total * 2.5", "return total / 2.5")}
    assert changes(ANSWER, "constant") == {("total = values.sum() + 1", "total = values.sum() + 2"),
                                           ("total = values.sum() + 1", "total = values.sum() + 0"),
                                           ("return total * 2.5", "return total * 5.0")}
    assert changes(ANSWER, "keyword") == {("frame = make(kept, dtype=float)", "frame = make(kept)")}
    assert changes(ANSWER, "aggregate") == {("total = values.sum() + 1", "total = values.mean() + 1")}
    assert changes(ANSWER, "return-none") == {("return total * 2.5", "return None")}
    assert changes(ANSWER, "delete") == {(line, "pass") for line in
                                         ("total = values.sum() + 1", "kept = [v for v in values if v >= limit]",
                                          "frame = make(kept, dtype=float)")}


def test_slips_stay_inside_the_solution_and_compile():
    """Is every slip valid Python, different from the answer, and only between the solution markers?"""
    source = "LIMIT = 3 + 1\n" + ANSWER
    made = mutants.slips("answer", source)
    assert made and all(s.source != source for s in made)
    for slip in made:
        compile(slip.source, "slip", "exec")
        assert slip.source.splitlines()[:3] == source.splitlines()[:3], f"{slip.kind} changed code outside the solution"
        assert slip.source.splitlines()[slip.line - 1].strip() == slip.after
    assert len({s.source for s in made}) == len(made), "the same slip was made twice"


def test_unparseable_answers_and_other_comparisons():
    """Is an answer that does not parse skipped, and are < <= > >= == != each turned into their neighbour?"""
    assert mutants.slips("answer", "### BEGIN SOLUTION\ndef (:\n### END SOLUTION\n") == []
    source = "### BEGIN SOLUTION\na = x < 1\nb = x <= 1\nc = x > 1\nd = x == 1\ne = x != 1\n### END SOLUTION\n"
    assert {s.after for s in mutants.slips("answer", source) if s.kind == "comparison"} == {
        "a = x <= 1", "b = x < 1", "c = x >= 1", "d = x != 1", "e = x == 1"}


def test_a_cell_magic_is_kept_and_the_python_below_it_slipped():
    """Is an answer written to a file with %%writefile (Lab 06) slipped like any other, its magic line kept as it is?"""
    source = "%%writefile artifacts/stage.py\n" + ANSWER
    made = mutants.slips("answer", source)
    assert {(s.kind, s.before, s.after) for s in made} == {(s.kind, s.before, s.after) for s in mutants.slips("answer", "\n" + ANSWER)}
    assert made and all(s.source.splitlines()[0] == "%%writefile artifacts/stage.py" for s in made)
    for slip in made:
        compile(slip.source.partition("\n")[2], "slip", "exec")
        assert slip.source.splitlines()[slip.line - 1].strip() == slip.after, "a slip names its line in the cell, magic line included"
    assert mutants.slips("answer", "%%bash\n### BEGIN SOLUTION\necho $((1 + 2))\n### END SOLUTION\n") == []


def test_the_number_of_slips_is_bounded_and_spread():
    """Does a long answer get at most the cap per kind, taken from its first to its last line, the same each time?"""
    body = "".join(f"    v{i} = x + {i}\n" for i in range(30))
    source = f"def f(x):\n    ### BEGIN SOLUTION\n{body}    ### END SOLUTION\n"
    made = [s for s in mutants.slips("answer", source, max_per_kind=5) if s.kind == "arithmetic"]
    assert len(made) == 5
    assert made[0].before == "v0 = x + 0" and made[-1].before == "v29 = x + 29"
    assert made == [s for s in mutants.slips("answer", source, max_per_kind=5) if s.kind == "arithmetic"]


def test_harmless_entries_need_a_reason(tmp_path):
    """Is a harmless entry without a reason refused with a message naming the file?"""
    (tmp_path / mutants.HARMLESS_DIR).mkdir(parents=True)
    (tmp_path / mutants.HARMLESS_DIR / "lab.yml").write_text(yaml.safe_dump([{"cell": "a", "kind": "delete", "line": "x = 1", "change": "pass", "reason": " "}]))
    with pytest.raises(CourseError, match="lab.yml"):
        mutants.harmless_marks(tmp_path, "lab")


def test_every_harmless_file_names_a_real_lab_and_reasons():
    """Does every kept harmless file belong to a lab, and give each entry a one-line reason?"""
    for path in sorted((ROOT / mutants.HARMLESS_DIR).glob("*.yml")):
        assert (ROOT / "solutions" / path.stem / f"{path.stem}.ipynb").is_file(), f"{path.name}: no such lab"
        for entry in mutants.harmless_marks(ROOT, path.stem):
            assert "\n" not in str(entry["reason"]).strip(), f"{path.name}: {entry['reason']!r} is more than one line"


LAB = "lab01-scoping"
GUARD = 'assert [int(v) for v in _result["late"]] == [0, 0, 1, 1]'


def scratch_lab01(root: Path, drop_guard: bool) -> None:
    """Lab 01 alone in a scratch course, test_add_target reduced to its visible assertions, maybe minus GUARD."""
    shutil.copytree(ROOT / "solutions" / LAB, root / "solutions" / LAB, ignore=shutil.ignore_patterns("artifacts", "mlflow.db"))
    path = root / "solutions" / LAB / f"{LAB}.ipynb"
    nb = notebooks.read(path)
    cell = notebooks.find_cell(nb, "test_add_target")
    visible = cell.source.split("### BEGIN HIDDEN TESTS")[0]  # the hidden tests check the labels too
    assert GUARD in visible, "test_add_target changed: update this test's GUARD"
    cell.source = "\n".join(line for line in visible.splitlines() if not (drop_guard and line.startswith(GUARD)))
    notebooks.write(nb, path)


@pytest.mark.slow
def test_a_removed_assertion_shows_up_as_survivors(tmp_path):
    """With the labels assertion removed from a scratch copy of Lab 01, do the slips it caught survive, and only those?"""
    verdicts = {}
    for drop in (False, True):
        root = tmp_path / ("weakened" if drop else "intact")
        scratch_lab01(root, drop)
        report = mutants.run(root, LAB, only=["add_target"])
        (question,) = report.questions
        verdicts[drop] = {o.slip.key: o.caught for o in question.outcomes}
    assert verdicts[False].keys() == verdicts[True].keys()
    boundary = ("add_target", "comparison", 'labelled["late"] = (labelled["dep_delay"] >= threshold).astype(int)',
                'labelled["late"] = (labelled["dep_delay"] > threshold).astype(int)')
    assert verdicts[False][boundary], "with the assertion in place, the > slip should be caught"
    newly_surviving = {key for key in verdicts[True] if verdicts[False][key] and not verdicts[True][key]}
    assert boundary in newly_surviving
    assert all(key[1] in ("comparison", "delete") for key in newly_surviving), newly_surviving
