"""Sphinx extension: the `study-plan` directive renders a plan of book/study-group/schedule.yml as a table.

```{study-plan} standard
```

The same file drives `mlops-course progress`, so the book and the progress
tool never disagree about which lab is due when. Chapters link to their page;
labs that exist open in JupyterLab like the {lab} role; labs not written yet
are listed as coming. A broken schedule fails the build with the schedule's
own message.
"""

from __future__ import annotations

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from mlops_course.book.lab_links import course_root, lab_link_nodes, lab_notebook
from mlops_course.course.schedule import SCHEDULE_FILE, Plan, Schedule, Week, load_schedule
from mlops_course.errors import ScheduleError

COLUMNS = (("Week", 6), ("Topic", 20), ("Read", 18), ("Lab work", 30), ("Hours", 12), ("In the meeting", 34))


def _doc_link(env, page: str) -> nodes.Node:
    """A link to a book page, titled by the page itself (what :doc: does)."""
    ref = addnodes.pending_xref("", refdomain="std", reftype="doc", reftarget=f"/{page}", refexplicit=False,
                                refdoc=env.docname, refwarn=True)
    ref += nodes.inline(page, page, classes=["xref", "std", "std-doc"])
    return ref


def _inline(text: str) -> nodes.paragraph:
    """Plain text with `code` spans, as the schedule file writes commands."""
    paragraph = nodes.paragraph()
    for i, part in enumerate(text.split("`")):
        if part:
            paragraph += nodes.literal(part, part) if i % 2 else nodes.Text(part)
    return paragraph


def _joined(parts: list[list[nodes.Node]], separator: str = ", ") -> nodes.paragraph:
    paragraph = nodes.paragraph()
    for i, part in enumerate(parts):
        if i:
            paragraph += nodes.Text(separator)
        paragraph.extend(part)
    return paragraph


def _coming(env, schedule: Schedule, page: str) -> bool:
    """A lesson is coming while its lab is not in labs/ yet (chapter and lab land together)."""
    return any(lesson.chapter == page and not lab_notebook(env.app, lesson.lab).is_file() for lesson in schedule.lessons)


def _reading(env, schedule: Schedule, week: Week) -> nodes.paragraph:
    if not week.read:
        return nodes.paragraph("", "—")
    return _joined([[_doc_link(env, page)] + ([nodes.Text(" "), nodes.emphasis("", "(coming)")]
                                              if _coming(env, schedule, page) else []) for page in week.read])


def _lab(env, schedule: Schedule, lab: str) -> list[nodes.Node]:
    title = schedule.lab_title(lab)
    if lab_notebook(env.app, lab).is_file():
        return lab_link_nodes(env, lab, text=title)
    return [nodes.Text(title), nodes.Text(" "), nodes.emphasis("", "(coming)")]


def _lab_work(env, schedule: Schedule, week: Week) -> nodes.paragraph:
    parts = []
    for lab in week.labs:
        note = [nodes.Text(" — "), nodes.strong("", "due this week")] if lab in week.due else []
        parts.append(_lab(env, schedule, lab) + note)
    parts += [[nodes.Text("optional: ")] + _lab(env, schedule, lab) for lab in week.optional]
    return _joined(parts, "; ") if parts else nodes.paragraph("", "—")


def _row(cells: list[nodes.Node]) -> nodes.row:
    row = nodes.row()
    for cell in cells:
        entry = nodes.entry()
        entry += cell if isinstance(cell, nodes.paragraph) else nodes.paragraph("", "", cell)
        row += entry
    return row


def plan_table(env, schedule: Schedule, plan: Plan) -> nodes.table:
    table = nodes.table(classes=["study-plan"])
    group = nodes.tgroup(cols=len(COLUMNS))
    table += group
    for _, width in COLUMNS:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    head += _row([nodes.Text(name) for name, _ in COLUMNS])
    group += head
    body = nodes.tbody()
    for week in plan.weeks:
        hours = " · ".join(f"{value:g} h {name}" for name, value in week.hours.items())
        body += _row([nodes.Text(str(week.number)), _inline(week.topic), _reading(env, schedule, week),
                      _lab_work(env, schedule, week), nodes.Text(hours), _inline(week.meeting)])
    group += body
    return table


class StudyPlan(SphinxDirective):
    """Render one plan of the study-group schedule (its id is the argument)."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        root = course_root(self.env.app)
        self.env.note_dependency(str(root / SCHEDULE_FILE))
        try:
            schedule = load_schedule(root)
            plan = schedule.plan(self.arguments[0])
        except ScheduleError as exc:
            raise self.error(str(exc)) from exc
        total = sum(week.total_hours for week in plan.weeks)
        summary = nodes.paragraph("", f"{plan.summary} {len(plan.weeks)} weeks, about {total:g} hours in all.")
        return [summary, plan_table(self.env, schedule, plan)]


def setup(app: Sphinx) -> dict:
    app.add_directive("study-plan", StudyPlan)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
