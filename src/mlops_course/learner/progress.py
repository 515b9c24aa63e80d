"""Progress: which questions of which labs a learner, or every member of a study group, has done.

Two sources, one table:
- saved notebooks, read as they are (nothing is run): an answer still holding
  what nbgrader released is not started; a test cell that ran without an
  error passed, one with an error failed (the grader's rule, course.cell_passes), one not run
  since is "not run";
- nbgrader's gradebook, for a class that submits: a test cell at full marks
  passed; an answer in words counts as written once it is waiting for, or has
  got, a grade.

The study-group schedule places each lab in the week it is due, so the plot
shows members against the plan, week by week.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mlops_course.course import notebooks
from mlops_course.course.config import cell_passes
from mlops_course.course.layout import lab_names
from mlops_course.course.questions import Question, cells_by_id, is_unanswered, questions
from mlops_course.errors import ProgressError

PASSED, FAILED, NOT_RUN, NOT_STARTED = "passed", "failed", "not run", "not started"
WRITTEN, TO_WRITE = "written", "to write"
DONE = {PASSED, WRITTEN}
LEARNER = "you"
COLUMNS = ["member", "lab", "question", "label", "manual", "status", "done"]


def question_status(question: Question, cells: dict) -> str:
    """A question's status in a saved notebook, from its cells and their outputs as last saved.

    A test cell judged by the grader's rule (`course.cell_passes`): only an error fails it.
    """
    if question.manual:
        cell = cells.get(question.id)
        return WRITTEN if cell is not None and not is_unanswered(cell) else TO_WRITE
    if any(a not in cells or is_unanswered(cells[a]) for a in question.answers):
        return NOT_STARTED
    tests = [cells[t] for t in question.tests if t in cells]
    if not tests:
        return NOT_STARTED
    if not all(cell_passes(cell.get("outputs", [])) for cell in tests):
        return FAILED
    return PASSED if all(cell.get("execution_count") for cell in tests) else NOT_RUN


def _rows(member: str, lab: str, found: list[Question], status_of) -> list[dict]:
    return [
        {"member": member, "lab": lab, "question": q.id, "label": q.label, "manual": q.manual,
         "status": (status := status_of(q)), "done": status in DONE}
        for q in found
    ]


def lab_notebooks(folder: Path) -> dict[str, Path]:
    """The lab notebooks directly in `folder`, by lab: `folder/<lab>/<lab>.ipynb`."""
    return {lab: folder / lab / f"{lab}.ipynb" for lab in lab_names(folder, ".")}


def members_notebooks(folder: Path) -> dict[str, dict[str, Path]]:
    """Whose notebooks are in `folder`: one learner's labs, or a study group's `<member>/<lab>/<lab>.ipynb`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ProgressError(f"there is no folder {folder}")
    own = lab_notebooks(folder)
    if own:
        return {LEARNER: own}
    # Every folder is a member, even one still empty: a member who has sent nothing yet is still in the group.
    group = {m.name: lab_notebooks(m) for m in sorted(folder.iterdir()) if m.is_dir() and not m.name.startswith(".")}
    if any(group.values()):
        return group
    raise ProgressError(
        f"no lab notebooks in {folder}: expected {folder}/<lab>/<lab>.ipynb (your own labs) "
        f"or {folder}/<member>/<lab>/<lab>.ipynb (a study group's)"
    )


def _read(path: Path):
    try:
        return notebooks.read(path)
    except Exception as exc:  # nbformat raises several types for unreadable files
        raise ProgressError(f"{path} is not a readable notebook: {exc}") from exc


def from_notebooks(folder: Path, reference: dict[str, Path] | None = None) -> pd.DataFrame:
    """Progress of everyone whose notebooks are in `folder`, one row per member and question.

    `reference` gives each lab's blank notebook (the course's labs/): a lab a
    member has not started then still shows all its questions, not started.
    """
    members = members_notebooks(folder)
    reference = dict(reference or {})
    labs = sorted(set(reference) | {lab for labs in members.values() for lab in labs})
    definitions = {}
    for lab in labs:
        source = reference.get(lab) or next(labs_[lab] for labs_ in members.values() if lab in labs_)
        definitions[lab] = questions(_read(source))
    rows = []
    for member, own in members.items():
        for lab in labs:
            cells = cells_by_id(_read(own[lab])) if lab in own else {}
            rows += _rows(member, lab, definitions[lab], lambda q, cells=cells: question_status(q, cells))
    return pd.DataFrame(rows, columns=COLUMNS)


def from_gradebook(db_url: str, course_id: str, sources: dict[str, Path]) -> pd.DataFrame:
    """Progress of every student in nbgrader's gradebook; `sources` gives each lab's notebook, for its questions."""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SQLAlchemyError

    if db_url.startswith("sqlite:///") and not Path(db_url.removeprefix("sqlite:///")).is_file():
        raise ProgressError(f"there is no gradebook at {db_url.removeprefix('sqlite:///')}: nothing has been graded yet")
    rows = []
    try:
        with Gradebook(db_url, course_id) as gb:
            students = sorted(s.id for s in gb.students)
            labs = sorted(a.name for a in gb.assignments if a.name in sources)
            for lab in labs:
                found = questions(_read(sources[lab]))
                for student in students:
                    try:
                        submission = gb.find_submission(lab, student)
                    except MissingEntry:
                        rows += _rows(student, lab, found, lambda q: TO_WRITE if q.manual else NOT_STARTED)
                        continue
                    grades = {g.name: g for nb in submission.notebooks for g in nb.grades}
                    rows += _rows(student, lab, found, lambda q, grades=grades: _graded_status(q, grades))
    except SQLAlchemyError as exc:
        raise ProgressError(f"could not read the gradebook at {db_url}: {exc}") from exc
    return pd.DataFrame(rows, columns=COLUMNS)


def _graded_status(question: Question, grades: dict) -> str:
    if question.manual:
        grade = grades.get(question.id)
        written = grade is not None and (grade.needs_manual_grade or (grade.score or 0) > 0)
        return WRITTEN if written else TO_WRITE
    tests = [grades.get(t) for t in question.tests]
    if any(g is None for g in tests):
        return NOT_STARTED
    return PASSED if all((g.score or 0) >= g.max_score for g in tests) else FAILED


@dataclass(frozen=True)
class LabColumn:
    """A lab as a column of the progress table or plot: where it sits in the plan."""

    lab: str
    week: int | None
    optional: bool
    coming: bool = False

    def heading(self, title: str) -> str:
        if self.optional:
            return f"{title}\nweek {self.week} (optional)"
        when = f"due week {self.week}" if self.week else "not in plan"
        return f"{title}\n{when}{' (coming)' if self.coming else ''}"


def lab_columns(progress: pd.DataFrame, plan=None, with_coming: bool = False) -> list[LabColumn]:
    """The labs in plan order: by the week they are due (optional ones in the week they are offered).

    `with_coming` adds the plan's labs that are not in the course yet, so a
    plot shows the whole plan.
    """
    labs = list(dict.fromkeys(progress["lab"]))
    due = plan.due_weeks() if plan else {}
    offered = {lab: w.number for w in plan.weeks for lab in w.optional} if plan else {}
    coming = [lab for lab in [*due, *offered] if lab not in labs] if with_coming else []
    columns = [
        LabColumn(lab, due.get(lab) or offered.get(lab), lab not in due and lab in offered, coming=lab in coming)
        for lab in dict.fromkeys([*labs, *coming])
    ]
    return sorted(columns, key=lambda c: (c.week is None, c.week or 0, c.optional, c.lab))


def lab_table(progress: pd.DataFrame, plan=None, week: int | None = None) -> pd.DataFrame:
    """One row per member: questions done out of the lab's total for each lab, and the labs they are behind on."""
    if progress.empty:
        raise ProgressError("there is no progress to show: no labs, or no members")
    counts = progress.groupby(["member", "lab"], sort=False)["done"].agg(["sum", "count"])
    columns = lab_columns(progress, plan)
    table = pd.DataFrame(index=sorted(progress["member"].unique()))
    table.index.name = "member"
    for column in columns:
        done = counts.xs(column.lab, level="lab")
        table[column.lab] = [f"{int(done.loc[m, 'sum'])}/{int(done.loc[m, 'count'])}" for m in table.index]
    totals = progress.groupby("member")["done"].mean()
    table["done"] = [f"{totals[m]:.0%}" for m in table.index]
    if plan is not None and week is not None:
        due_now = [c.lab for c in columns if c.week and c.week <= week and not c.optional]
        complete = counts["sum"] == counts["count"]
        table[f"behind (week {week})"] = [
            ", ".join(lab for lab in due_now if not complete.loc[(m, lab)]) or "-" for m in table.index
        ]
    return table


def question_table(progress: pd.DataFrame, member: str) -> str:
    """A learner's own view: every lab and each question's status."""
    lines = []
    for lab, rows in progress[progress["member"] == member].groupby("lab", sort=False):
        lines.append(f"{lab}: {int(rows['done'].sum())} of {len(rows)} questions done")
        width = rows["label"].str.len().max()
        for row in rows.itertuples():
            mark = "✔" if row.done else ("✘" if row.status == FAILED else "·")
            lines.append(f"  {mark} {row.label:<{width}}  {row.question:<20}  {row.status}")
    return "\n".join(lines)


def plot_by_week(progress: pd.DataFrame, path: Path, plan=None, week: int | None = None, title_of=None) -> Path:
    """A heat map of members against the plan's weeks: the share of each lab's questions done.

    A lead sees at a glance who is behind on which week's lab; the dashed
    line marks the current week when one is given.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    columns = lab_columns(progress, plan, with_coming=True)
    members = sorted(progress["member"].unique())
    counts = progress.groupby(["member", "lab"])["done"].agg(["sum", "count"])
    grid = np.ma.masked_invalid([[counts.loc[(m, c.lab), "sum"] / counts.loc[(m, c.lab), "count"]
                                  if not c.coming else np.nan for c in columns] for m in members])
    cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="#e0e0e0")
    fig, ax = plt.subplots(figsize=(max(6.0, 2.5 + 1.5 * len(columns)), 2.2 + 0.42 * len(members)),
                           layout="constrained")
    image = ax.imshow(grid, cmap=cmap, vmin=0, vmax=1, aspect="auto")
    for i, m in enumerate(members):
        for j, c in enumerate(columns):
            done, total = (0, 0) if c.coming else counts.loc[(m, c.lab)]
            ax.text(j, i, "–" if c.coming else f"{int(done)}/{int(total)}", ha="center", va="center", fontsize=9)
    title_of = title_of or (lambda lab: lab)
    ax.set_xticks(range(len(columns)), [c.heading(title_of(c.lab)) for c in columns], fontsize=8)
    ax.set_yticks(range(len(members)), members)
    ax.xaxis.tick_top()
    if week is not None:
        past = [j for j, c in enumerate(columns) if c.week and c.week <= week]
        x = (max(past) + 0.5) if past else -0.5
        ax.axvline(x, color="black", linestyle="--", linewidth=1.5)
        ax.text(x, len(members) - 0.45, f" now: week {week}", va="top", fontsize=8)
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="share of questions done")
    plan_title = f"{plan.title}: " if plan else ""
    fig.suptitle(f"{plan_title}questions done per lab, labs in the order they are due", fontsize=11)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def collect(root: Path | None, folder: Path | None = None, gradebook: bool = False, db_url: str | None = None) -> pd.DataFrame:
    """Progress from a folder of notebooks, from the gradebook, or (by default) from your own labs in labs/."""
    from mlops_course.course.layout import RELEASE_DIR, SOURCE_DIR

    reference = lab_notebooks(root / RELEASE_DIR) if root else {}
    if gradebook:
        if root is None:
            raise ProgressError("--gradebook needs the course folder (run it inside your clone, or set $MLOPS_COURSE_ROOT)")
        from mlops_course.course.config import load_config

        config = load_config(root, db_url).CourseDirectory
        return from_gradebook(str(config.db_url), config.course_id, {**reference, **lab_notebooks(root / SOURCE_DIR)})
    if folder is None:
        if root is None:
            raise ProgressError("name a folder of notebooks, or run this inside your clone of the course")
        folder = root / RELEASE_DIR
    return from_notebooks(Path(folder), reference)
