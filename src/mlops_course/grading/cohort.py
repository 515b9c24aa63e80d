"""The cohort report: how a class is doing, lab by lab and question by question.

Read from the gradebook after grading, for instructors and study-group leads:
the distribution of scores per lab; per question its mean score as a share of
its points (difficulty: low means hard) and its discrimination, the
correlation between the question's score and the rest of the lab's score
(near zero or negative: the question does not separate students who
understood from those who did not, so look at its wording or its tests); late
submissions; and students who have not submitted. The HTML page embeds PNG
plots written beside it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mlops_course.course.config import load_config
from mlops_course.grading.gradebook import require_gradebook

MIN_FOR_DISCRIMINATION = 3


@dataclass(frozen=True)
class CohortData:
    submissions: pd.DataFrame  # lab, student, score, max_score, timestamp, seconds_late
    questions: pd.DataFrame  # lab, student, question, score, max_score, pending (not graded by hand yet), order
    students: list[str]
    labs: list[str]


def read_gradebook(root: Path, db_url: str | None = None, roster: list[str] | None = None) -> CohortData:
    """Everything the report needs, as tables; `roster` adds students the gradebook does not know yet."""
    from nbgrader.api import Gradebook

    cd = load_config(root, db_url).CourseDirectory
    require_gradebook(str(cd.db_url))
    subs, questions = [], []
    order: dict[tuple[str, str], int] = {}
    with Gradebook(cd.db_url, cd.course_id) as gb:
        students = sorted({s.id for s in gb.students} | set(roster or []))
        labs = [a.name for a in gb.assignments]
        for assignment in gb.assignments:
            order |= {(assignment.name, q): i for i, q in enumerate(lab_order(root, assignment.name))}
            for sub in assignment.submissions:
                subs.append({"lab": assignment.name, "student": sub.student.id, "score": float(sub.score),
                             "max_score": float(sub.max_score), "timestamp": sub.timestamp,
                             "seconds_late": float(sub.total_seconds_late or 0)})
                for nb in sub.notebooks:
                    for grade in nb.grades:
                        questions.append({"lab": assignment.name, "student": sub.student.id, "question": grade.name,
                                          "score": float(grade.score), "max_score": float(grade.max_score),
                                          "pending": bool(grade.needs_manual_grade),
                                          "order": order.get((assignment.name, grade.name), len(order))})
    sub_cols = ["lab", "student", "score", "max_score", "timestamp", "seconds_late"]
    q_cols = ["lab", "student", "question", "score", "max_score", "pending", "order"]
    return CohortData(pd.DataFrame(subs, columns=sub_cols), pd.DataFrame(questions, columns=q_cols), students, labs)


def lab_order(root: Path, lab: str) -> list[str]:
    """The lab's graded cells in the order students meet them (its notebooks in name order)."""
    from mlops_course.course import notebooks
    from mlops_course.course.layout import assignment_notebooks

    return [c.grade_id for path in assignment_notebooks(Path(root), lab)
            for c in notebooks.graded_cells(notebooks.read(path))]


def question_stats(questions: pd.DataFrame) -> pd.DataFrame:
    """Per lab and question, in lab order: points, mean share of points (difficulty), discrimination, and
    how many answers still wait for manual grading (left out of difficulty and discrimination: not zeros)."""
    rows = []
    if "pending" not in questions:
        questions = questions.assign(pending=False)
    if "order" not in questions:
        questions = questions.assign(order=0)
    for lab, frame in questions.groupby("lab", sort=False):
        graded = frame[~frame["pending"].astype(bool)]
        scores = graded.pivot_table(index="student", columns="question", values="score", aggfunc="sum")
        scores = scores.reindex(index=sorted(set(frame["student"])), columns=sorted(set(frame["question"])))
        points = frame.groupby("question")["max_score"].max()
        waiting = frame.groupby("question")["pending"].sum()
        total = scores.sum(axis=1)
        for question in frame.sort_values(["order", "question"])["question"].drop_duplicates():
            item = scores[question]
            rest = total - item
            enough = item.count() >= MIN_FOR_DISCRIMINATION and item.std() > 0 and rest.std() > 0
            rows.append({"lab": lab, "question": question, "points": points[question],
                         "difficulty": item.mean() / points[question] if points[question] else float("nan"),
                         "discrimination": item.corr(rest) if enough else float("nan"),
                         "pending manual": int(waiting[question])})
    return pd.DataFrame(rows, columns=["lab", "question", "points", "difficulty", "discrimination", "pending manual"])


def missing_submissions(data: CohortData) -> dict[str, list[str]]:
    handed_in = data.submissions.groupby("lab")["student"].apply(set).to_dict()
    return {lab: [s for s in data.students if s not in handed_in.get(lab, set())] for lab in data.labs}


def plot_scores(data: CohortData, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    labs = data.labs or ["(no labs)"]
    fig, axes = plt.subplots(1, len(labs), figsize=(4 * len(labs), 3), squeeze=False)
    for ax, lab in zip(axes[0], labs):
        frame = data.submissions[data.submissions["lab"] == lab]
        share = 100 * frame["score"] / frame["max_score"].where(frame["max_score"] > 0)
        ax.hist(share.dropna(), bins=range(0, 105, 10), color="#4c72b0", edgecolor="white")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # students come whole
        ax.set(title=f"{lab} (n={len(frame)})", xlabel="score (% of points)", ylabel="students", xlim=(0, 100))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_questions(stats: pd.DataFrame, lab: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = stats[stats["lab"] == lab]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 0.35 * len(frame) + 1.5), sharey=True)
    left.barh(frame["question"], 100 * frame["difficulty"], color="#55a868")
    left.set(xlim=(0, 100), xlabel="mean score (% of points): low = hard", title=f"{lab}: difficulty")
    right.barh(frame["question"], frame["discrimination"].fillna(0), color="#c44e52")
    right.axvline(0.2, color="grey", linestyle="--", linewidth=1)
    right.set(xlim=(-1, 1), xlabel="correlation with the rest of the lab", title="discrimination")
    left.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(root: Path, out_dir: Path, db_url: str | None = None, roster: list[str] | None = None) -> Path:
    """Write index.html and its PNG plots into `out_dir`; returns the page."""
    data = read_gradebook(root, db_url, roster)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stats = question_stats(data.questions)
    missing = missing_submissions(data)
    plot_scores(data, out_dir / "scores.png")
    parts = [f"<h1>Cohort report</h1><p>{len(data.students)} student(s), {len(data.labs)} lab(s).</p>",
             '<h2>Scores per lab</h2><img src="scores.png" alt="score distribution per lab">',
             _table(_lab_summary(data, missing))]
    for lab in data.labs:
        image = plot_questions(stats, lab, out_dir / f"questions-{lab}.png")
        late = data.submissions[(data.submissions["lab"] == lab) & (data.submissions["seconds_late"] > 0)]
        late = late.assign(hours_late=(late["seconds_late"] / 3600).round(1))[["student", "timestamp", "hours_late"]]
        parts += [f"<h2>{html.escape(lab)}</h2>",
                  f'<img src="{image.name}" alt="difficulty and discrimination per question of {html.escape(lab)}">',
                  "<h3>Questions</h3>", _table(stats[stats["lab"] == lab].drop(columns="lab").round(2)),
                  "<h3>Late submissions</h3>", _table(late) if len(late) else "<p>None.</p>",
                  "<h3>Not submitted</h3>",
                  f"<p>{html.escape(', '.join(missing[lab]))}</p>" if missing[lab] else "<p>Everyone submitted.</p>"]
    page = out_dir / "index.html"
    page.write_text(_page("\n".join(parts)))
    return page


def _lab_summary(data: CohortData, missing: dict[str, list[str]]) -> pd.DataFrame:
    rows = []
    for lab in data.labs:
        frame = data.submissions[data.submissions["lab"] == lab]
        share = 100 * frame["score"] / frame["max_score"].where(frame["max_score"] > 0)
        rows.append({"lab": lab, "submitted": len(frame), "not submitted": len(missing[lab]),
                     "late": int((frame["seconds_late"] > 0).sum()), "mean %": round(share.mean(), 1),
                     "median %": round(share.median(), 1)})
    return pd.DataFrame(rows)


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, na_rep="–", classes="table")


def _page(body: str) -> str:
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}td,th{padding:4px 10px;border-bottom:1px solid #ddd;"
             "text-align:left}img{max-width:100%}")
    return f"<!doctype html><html><head><meta charset='utf-8'><title>Cohort report</title><style>{style}</style></head><body>{body}</body></html>"
