"""The `mlops-course` command: parses arguments and calls one documented function per subcommand.

Errors the tools raise on purpose (mlops_course.errors) are printed as one
clear line and exit with status 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, NoReturn, Sequence

from mlops_course.errors import CourseError


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


def _root(args: argparse.Namespace) -> Path:
    from mlops_course.course.layout import find_root

    return find_root(Path(args.root) if args.root else None)


def cmd_labs(args: argparse.Namespace) -> None:
    from mlops_course.course.layout import lab_names

    for name in lab_names(_root(args)):
        print(name)


def cmd_release(args: argparse.Namespace) -> None:
    from mlops_course.grading.release import release

    root = _root(args)
    for path in release(root, args.lab):
        print(f"released {path.relative_to(root) if path.is_relative_to(root) else path}")


def cmd_install_kernel(args: argparse.Namespace) -> None:
    from mlops_course.course.kernel import install_kernel

    print(f"installed the course kernel in {install_kernel()}")


def cmd_book(args: argparse.Namespace) -> None:
    from mlops_course.book.build import build_book

    out = build_book(_root(args), strict=not args.allow_warnings)
    print(f"book built: {out / 'index.html'}")


def _size(text: str) -> int:
    """'4G', '512M', '1000000' -> bytes (argparse type)."""
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    try:
        return int(float(text[:-1]) * units[text[-1]]) if text[-1:] in units else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size; use e.g. 4G or 512M") from None


def cmd_collect(args: argparse.Namespace) -> None:
    from mlops_course.grading.collect import collect_folder, collect_zip

    root, source = _root(args), Path(args.source)
    if source.suffix.lower() == ".zip":
        if not args.lab:
            fail("collecting a zip needs the lab it is for: mlops-course collect FILE.zip --lab LAB")
        report = collect_zip(root, source, args.lab, args.pattern, db_url=args.db_url)
    else:
        report = collect_folder(root, source, args.lab)
    print("\n".join(report.lines()))
    if not report.collected:
        fail(f"nothing was collected from {source}")
    if not report.ok:
        fail("some submissions need attention: see the lines above (the rest was collected)")


def cmd_autograde(args: argparse.Namespace) -> None:
    from mlops_course.grading.autograde import autograde, summary_table
    from mlops_course.grading.limits import Limits

    root = _root(args)
    _require_submissions(root, args.lab, args.student or [])
    limits = Limits(cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                    memory_bytes=args.memory, max_processes=args.max_processes)
    results = autograde(root, args.lab, students=args.student or None, jobs=args.jobs, limits=limits,
                        db_url=args.db_url, progress=not args.no_progress)
    print(summary_table(results))


def _require_submissions(root: Path, lab: str | None, students: list[str]) -> None:
    """Fail, naming the folder, when there is nothing (or no such student) to grade: grading nothing is no success."""
    from mlops_course.course.config import load_config
    from mlops_course.course.layout import resolve_labs
    from mlops_course.grading.plan import students_in

    folder = load_config(root).CourseDirectory.submitted_directory
    handed_in = {s for name in resolve_labs(root, lab) for s in students_in(root / folder, name)}
    what = f"of {lab}" if lab else "of any lab"
    if not handed_in:
        fail(f"no submissions {what} in {folder}/: collect them first (mlops-course collect FOLDER-OR-ZIP)")
    unknown = [s for s in students if s not in handed_in]
    if unknown:
        fail(f"no submission {what} from {', '.join(unknown)} in {folder}/ (students there: {', '.join(sorted(handed_in))})")


def cmd_feedback(args: argparse.Namespace) -> None:
    from mlops_course.grading.feedback import generate_feedback

    root = _root(args)
    _warn_provisional(root, args.db_url, args.lab, args.student)
    files = generate_feedback(root, args.lab, args.student, db_url=args.db_url)
    for path in files:
        print(f"feedback {path.relative_to(root) if path.is_relative_to(root) else path}")
    print(f"{len(files)} feedback page(s) written (hidden tests removed).")


def _warn_provisional(root: Path, db_url: str | None, lab: str | None = None, student: str | None = None) -> None:
    """Warn before sending out scores that still miss the manual grading of answers in words."""
    from mlops_course.grading.export import pending_manual, provisional

    pending = pending_manual(root, db_url)
    if lab:
        pending = pending[pending["lab"] == lab]
    if student:
        pending = pending[pending["student"] == student]
    for line in provisional(pending):
        print(f"warning: {line}", file=sys.stderr)


def cmd_export(args: argparse.Namespace) -> None:
    from mlops_course.grading.export import export_grades

    root = _root(args)
    _warn_provisional(root, args.db_url)
    for path in export_grades(root, Path(args.out) if args.out else root / "autograder" / "export", db_url=args.db_url):
        print(f"wrote {path}")


def cmd_report(args: argparse.Namespace) -> None:
    from mlops_course.grading.cohort import write_report

    root = _root(args)
    roster = None
    if args.roster:
        path = Path(args.roster)
        if not path.is_file():
            fail(f"roster file {path} not found (one student id per line)")
        roster = [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    page = write_report(root, Path(args.out) if args.out else root / "autograder" / "reports", db_url=args.db_url, roster=roster)
    print(f"cohort report: {page}")


def cmd_formgrade(args: argparse.Namespace) -> None:
    import subprocess

    from mlops_course.grading.formgrade import formgrade_command, formgrade_environment

    root = _root(args)
    env = formgrade_environment(root, args.db_url)
    print(f"formgrader: http://127.0.0.1:{args.port}/formgrader (log in with the token in the link Jupyter prints "
          f"below); rubrics for the answers in words: autograder/rubrics/<lab>.md. Stop with Ctrl-C.", flush=True)
    try:
        extra = args.jupyter_args[1:] if args.jupyter_args[:1] == ["--"] else args.jupyter_args
        done = subprocess.run(formgrade_command(root, args.port, extra), cwd=root, env=env, check=False)
    except KeyboardInterrupt:
        return
    if done.returncode not in (0, -2, 130):
        fail(f"jupyter lab stopped with exit status {done.returncode} (see its messages above)")


def cmd_roster(args: argparse.Namespace) -> None:
    from mlops_course.grading.roster import import_roster

    count, created = import_roster(_root(args), Path(args.file), db_url=args.db_url)
    if created:
        print(f"there was no gradebook yet: created a new one at {created}")
    print(f"{count} student(s) added or updated in the gradebook (ids, names, e-mails)")


def cmd_sandbox(args: argparse.Namespace) -> None:
    from mlops_course.grading.sandbox import Sandbox

    sandbox = Sandbox.detect()
    print("Enforced while grading:")
    for line in sandbox.enforced():
        print(f"  - {line}")
    for line in sandbox.warnings():
        print(f"warning: {line}", file=sys.stderr)


def cmd_check(args: argparse.Namespace) -> None:
    from mlops_course.learner.selfcheck import check_notebook, print_report

    report = check_notebook(Path(args.notebook), question=args.question, quick=args.quick)
    print_report(report)
    if not report.all_passed:
        raise SystemExit(1)


def cmd_validate(args: argparse.Namespace) -> None:
    from mlops_course.learner.validate import validate_notebook

    result = validate_notebook(Path(args.notebook), quick=args.quick)
    print(result.text())
    if not result.ok:
        raise SystemExit(1)


def cmd_progress(args: argparse.Namespace) -> None:
    from mlops_course.course.schedule import load_schedule
    from mlops_course.errors import CourseRootNotFoundError
    from mlops_course.learner import progress

    try:
        root = _root(args)
    except CourseRootNotFoundError:
        if args.gradebook or not args.folder:
            raise
        root = None  # a lead with only a folder of notebooks: no plan, no reference labs
    found = progress.collect(root, Path(args.folder) if args.folder else None, args.gradebook, args.db_url)
    schedule = load_schedule(root) if root else None
    plan = schedule.plan(args.plan) if schedule else None
    members = found["member"].unique()
    if list(members) == [progress.LEARNER]:
        print(progress.question_table(found, progress.LEARNER))
        print()
    print(progress.lab_table(found, plan, args.week).reset_index().to_string(index=False))
    if args.csv:
        found.to_csv(args.csv, index=False)
        print(f"\nevery question's status: {args.csv}")
    plot = args.plot or (None if list(members) == [progress.LEARNER] else "progress.png")
    if plot:
        title_of = schedule.lab_title if schedule else None
        print(f"plot by week: {progress.plot_by_week(found, Path(plot), plan, args.week, title_of)}")


def cmd_quiz_sheet(args: argparse.Namespace) -> None:
    from mlops_course.quiz.model import load_quiz, quiz_path
    from mlops_course.quiz.sheet import sheet_html, sheet_markdown

    quiz = load_quiz(quiz_path(_root(args), args.chapter))
    if not args.output:
        print(sheet_markdown(quiz))
        return
    out = Path(args.output)
    out.write_text(sheet_html(quiz) if out.suffix.lower() in (".html", ".htm") else sheet_markdown(quiz) + "\n",
                   encoding="utf-8")
    print(f"wrote {out}: questions on page 1, answers with explanations on page 2")


def cmd_quiz(args: argparse.Namespace) -> None:
    from mlops_course.grading.release import release
    from mlops_course.quiz.model import load_all, load_quiz, quiz_path
    from mlops_course.quiz.notebook import generate

    root = _root(args)
    if args.action == "validate":
        quizzes = [load_quiz(quiz_path(root, args.chapter))] if args.chapter else load_all(root)
        for quiz in quizzes:
            print(f"{quiz.path.relative_to(root) if quiz.path.is_relative_to(root) else quiz.path}: "
                  f"{len(quiz.questions)} questions, valid")
        return
    for path in generate(root, args.chapter):
        print(f"generated {path.relative_to(root)}")
        if not args.no_release:
            for released in release(root, path.parent.name):
                print(f"released {released.relative_to(root) if released.is_relative_to(root) else released}")


def cmd_class_server(args: argparse.Namespace) -> None:
    from mlops_course.classroom import accounts
    from mlops_course.classroom import server as classserver

    root = _root(args)
    state = Path(args.state) if args.state else classserver.default_state(root)
    if args.action == "start":
        password = args.test_password
        server = classserver.start(root, accounts.roster(args.students, args.student), state, pg_port=args.pg_port,
                                   hub_port=args.hub_port, test_password=password)
        print(f"class server running: {server.hub_url} (stop with: mlops-course class-server stop)")
    elif args.action == "stop":
        stopped = classserver.stop(state)
        print(f"stopped: {', '.join(stopped)}; every file is kept in {state}" if stopped else f"nothing was running in {state}")
    elif args.action == "teardown":
        classserver.teardown(state)
        print(f"removed the class's accounts, their home folders and {state}")
    elif args.action == "grade-on-submit":
        _switch_grading_on_submit(root, state, args)
    else:
        print("\n".join(classserver.status(state)))


def _switch_grading_on_submit(root: Path, state: Path, args: argparse.Namespace) -> None:
    from mlops_course.classroom import on_submit
    from mlops_course.classroom import server as classserver
    from mlops_course.course.layout import resolve_labs

    if not args.lab:
        fail("which lab? mlops-course class-server grade-on-submit --lab LAB [--per-hour N | --off]")
    (lab,) = resolve_labs(root, args.lab)
    if classserver.load(state) is None:
        fail(f"no class server in {state}: start one first (mlops-course class-server start --students N)")
    labs = on_submit.switch(state, lab, None if args.off else args.per_hour)
    if args.off:
        print(f"grading on submit is off for {lab}; hand-ins are still collected as before")
    else:
        print(f"grading on submit is on for {lab}: at most {labs[lab].per_hour} grading(s) per student an hour; "
              f"your own collect and autograde give the grade that counts")


def cmd_canary(args: argparse.Namespace) -> None:
    from mlops_course.proof.canary import canary

    pip_options = [option for path in args.find_links for option in ("--find-links", path)]
    pip_options += ["--no-index"] if args.no_index else []
    report = canary(_root(args), Path(args.folder), pip_options)
    markdown, data = report.save(Path(args.folder))
    print(report.text())
    print(f"report: {markdown} (and {data.name}, which `mlops-course upgrade` reads)")
    if not report.passed:
        raise SystemExit(1)


def cmd_upgrade(args: argparse.Namespace) -> None:
    from mlops_course.proof.canary import Report, upgrade

    moved = upgrade(_root(args), Report.load(Path(args.report)))
    for package, (old, new) in moved.items():
        print(f"{package}: {old} -> {new}")
    print(f"{len(moved)} direct pin(s) moved; constraints.txt rewritten from the canary environment. "
          "Run `make test`, then commit the four files.")


def cmd_mutants(args: argparse.Namespace) -> None:
    from mlops_course.course.layout import lab_names
    from mlops_course.proof.mutants import run, save
    from mlops_course.quiz.model import is_quiz

    root = _root(args)
    labs = [args.lab] if args.lab else [lab for lab in lab_names(root) if not is_quiz(lab)]
    below = []
    for lab in labs:
        report = run(root, lab, max_per_kind=args.max_per_kind, progress=args.progress, only=args.question)
        print(report.text())
        print(f"report: {save(report, Path(args.out) if args.out else root / 'test-artifacts' / 'mutants')}")
        below += [lab] if report.percent < args.fail_under else []
    if below:
        fail(f"below {args.fail_under:.0f}% of slips caught: {', '.join(below)}")


ROOT_HELP = "the course folder (default: found from the current folder)"
DB_HELP = "gradebook database URL (default: $MLOPS_COURSE_DB_URL or autograder/gradebook.db)"
QUICK_HELP = "run the lab on its small sample (QUICK = True), as CI does"

def _command(sub: argparse._SubParsersAction, name: str, func: Callable, help: str) -> argparse.ArgumentParser:
    """A subcommand whose help is also its description, calling `func(args)`."""
    p = sub.add_parser(name, help=help, description=help)
    p.set_defaults(func=func)
    # Also after the command (`mlops-course autograde --root DIR`), as instructors write it.
    p.add_argument("--root", default=argparse.SUPPRESS, help=ROOT_HELP)
    return p


def _with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--db-url", help=DB_HELP)
    return p


def _shown_size(size: int) -> str:
    """4294967296 -> '4G': a size as `_size` reads it, for a default in the help."""
    for unit, factor in (("G", 2**30), ("M", 2**20), ("K", 2**10)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def add_course_commands(sub: argparse._SubParsersAction) -> None:
    """The course's material: its labs, kernel, student versions and book."""
    _command(sub, "labs", cmd_labs, "List the labs (and quizzes) of the course.")
    _command(sub, "install-kernel", cmd_install_kernel, "Install the 'mlops-course' Jupyter kernel into this environment.")
    p = _command(sub, "release", cmd_release, "Regenerate labs/ from solutions/ with nbgrader (one lab or all).")
    p.add_argument("lab", nargs="?", help="the lab to release (default: all)")
    p = _command(sub, "book", cmd_book, "Build the course book into book/_build/html (offline).")
    p.add_argument("--allow-warnings", action="store_true", help="do not treat Sphinx warnings as errors")


def add_grading_commands(sub: argparse._SubParsersAction) -> None:
    """From hand-ins to grades: collect them, grade them in the sandbox, and show what the sandbox enforces."""
    from mlops_course.grading.limits import Limits

    p = _with_db(_command(sub, "collect", cmd_collect, "Collect submissions into autograder/submitted/: from a "
                          "folder of <student>/<lab>/ folders, or from a learning platform's zip of "
                          "<student>_<lab>_<file> files."))
    p.add_argument("source", help="a folder in nbgrader's <student>/<lab>/ layout, or a .zip file")
    p.add_argument("--lab", help="only this lab (required for a zip)")
    p.add_argument("--pattern", help="regular expression for zip entries, with (?P<student_id>...) and (?P<file_id>...) "
                   "groups, matched against the full path (default: .*/<student>_<lab>_<file>)")

    defaults = Limits()
    p = _with_db(_command(sub, "autograde", cmd_autograde, "Grade every submission of a lab (or all labs) in parallel, "
                          "each in a sandbox (no network, time/memory/process limits, only the student's files); "
                          "prints a summary."))
    p.add_argument("lab", nargs="?", help="the lab to grade (default: all)")
    p.add_argument("--student", action="append", help="only this student (repeat for several)")
    p.add_argument("--jobs", "-j", type=int, help="submissions graded at once (default: the number of cores)")
    p.add_argument("--cell-timeout", type=int, default=defaults.cell_timeout, help="seconds per cell (default: %(default)s)")
    p.add_argument("--notebook-timeout", type=int, default=defaults.notebook_timeout,
                   help="seconds per notebook (default: %(default)s)")
    p.add_argument("--memory", type=_size, default=defaults.memory_bytes,
                   help=f"memory limit per submission (default: {_shown_size(defaults.memory_bytes)})")
    p.add_argument("--max-processes", type=int, default=defaults.max_processes,
                   help="processes and threads per submission (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    _command(sub, "sandbox", cmd_sandbox, "Show what the grading sandbox enforces on this machine, and what it cannot.")


def add_gradebook_commands(sub: argparse._SubParsersAction) -> None:
    """What the gradebook gives back: feedback, exports, the cohort report, manual grading and the roster."""
    p = _with_db(_command(sub, "feedback", cmd_feedback, "Write HTML feedback per student (nbgrader's, with hidden "
                          "tests removed) into autograder/feedback/<student>/<lab>/."))
    p.add_argument("lab", nargs="?", help="the lab (default: all)")
    p.add_argument("--student", help="only this student")

    p = _with_db(_command(sub, "export", cmd_export, "Export grades: grades.csv (nbgrader's format) and grades-lms.csv "
                          "(one row per student, one column per lab, for a learning platform)."))
    p.add_argument("--out", help="output folder (default: autograder/export)")

    p = _with_db(_command(sub, "report", cmd_report, "Write the cohort report (HTML and PNG plots): scores per lab, "
                          "question difficulty and discrimination, late submissions, students who have not submitted."))
    p.add_argument("--out", help="output folder (default: autograder/reports)")
    p.add_argument("--roster", help="file with one student id per line (to list students who never submitted)")

    p = _with_db(_command(sub, "formgrade", cmd_formgrade, "Grade the answers in words: start nbgrader's formgrader "
                          "(JupyterLab, on this machine only) on the course, with the gradebook the other commands use."))
    p.add_argument("--port", type=int, default=8890, help="the port on 127.0.0.1 (default: 8890)")
    p.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="after --: options passed on to jupyter lab")

    p = _with_db(_command(sub, "roster", cmd_roster, "Import the class roster into the gradebook from a CSV file with a "
                          "student_id column and optionally first_name, last_name and email (fills grades-lms.csv's "
                          "names and lists students who never submitted in the cohort report)."))
    p.add_argument("action", choices=["import"], help="what to do")
    p.add_argument("file", help="the roster, a CSV file (a byte-order mark is fine)")


def _notebook_command(sub: argparse._SubParsersAction, name: str, run: Callable, description: str,
                      notebook_help: str) -> argparse.ArgumentParser:
    """A learner's command on one lab notebook, which runs it, in CI mode with --quick."""
    p = _command(sub, name, run, description)
    p.add_argument("notebook", help=notebook_help)
    p.add_argument("--quick", action="store_true", help=QUICK_HELP)
    return p


def add_learner_commands(sub: argparse._SubParsersAction) -> None:
    """What a learner (or a study group's lead) runs: self-check, validate before submitting, progress."""
    p = _notebook_command(sub, "check", cmd_check, "Self-check a lab notebook: run it, then report each question's "
                          "visible tests with hints (exit status 1 until every question passes).",
                          "the lab notebook, e.g. labs/lab01-scoping/lab01-scoping.ipynb")
    p.add_argument("--question", "-q", help="check one question: its number, answer cell or test cell")
    _notebook_command(sub, "validate", cmd_validate, "Before submitting: run nbgrader's validate on a lab notebook and "
                      "list failing tests, errors, unanswered questions and edited read-only cells.",
                      "the lab notebook to submit")
    p = _command(sub, "progress", cmd_progress, "Show which labs and questions are done: yours (labs/), a folder of "
                 "notebooks (yours, or a study group's <member>/<lab>/<lab>.ipynb) or the gradebook, as a table and a "
                 "plot by week.")
    p.add_argument("folder", nargs="?", help="a folder of notebooks (default: this course's labs/)")
    p.add_argument("--gradebook", action="store_true", help="read nbgrader's gradebook instead of notebooks")
    _with_db(p)
    p.add_argument("--plan", default="standard", help="the study plan to compare with (default: standard)")
    p.add_argument("--week", type=int, help="the group's current week: marks it and lists who is behind")
    p.add_argument("--plot", help="where to save the plot by week (default for a group: progress.png)")
    p.add_argument("--csv", help="also save every question's status as CSV")


def add_quiz_commands(sub: argparse._SubParsersAction) -> None:
    """The lesson quizzes: printed for study groups, validated, made into nbgrader assignments."""
    p = _command(sub, "quiz-sheet", cmd_quiz_sheet, "Print a chapter's quiz as a study-group discussion sheet: the "
                 "questions, then the answers with every explanation on a second page.")
    p.add_argument("chapter", help="the chapter, e.g. 02-data (or 02)")
    p.add_argument("--output", "-o", help="write to this file instead (.html: a printable page; otherwise Markdown)")
    p = _command(sub, "quiz", cmd_quiz, "Lesson quizzes (book/quizzes/*.yml): validate them, or generate their "
                 "nbgrader assignments solutions/quiz-<chapter>/ and release them to labs/.")
    p.add_argument("action", choices=["validate", "generate"], help="what to do")
    p.add_argument("chapter", nargs="?", help="one chapter, e.g. 02-data (default: every quiz)")
    p.add_argument("--no-release", action="store_true", help="generate solutions/ only, do not release to labs/")


def add_proof_commands(sub: argparse._SubParsersAction) -> None:
    """The course's proofs of itself: the dependency canary, the pin upgrade it allows, the mutation report."""
    p = _command(sub, "canary", cmd_canary, "Install the newest release of every direct dependency (below the bounds "
                 "in holds.toml) into a throwaway environment, run every lab, grade solutions and blanks, check the "
                 "quiz keys and build the book there; print and save the report (exit status 1 on any failure).")
    p.add_argument("--folder", default="/tmp/mlops-course-canary", help="the canary's folder, replaced on each run: "
                   "its environment (venv/), its work (work/) and its report (default: /tmp/mlops-course-canary)")
    p.add_argument("--find-links", action="append", default=[], help="also look for packages in this folder (repeat)")
    p.add_argument("--no-index", action="store_true", help="only the --find-links folders, not the registry")
    p = _command(sub, "upgrade", cmd_upgrade, "Move the pins of pyproject.toml, constraints.txt and environment.yml "
                 "to the versions the last passing canary proved.")
    p.add_argument("--report", default="/tmp/mlops-course-canary/report.json", help="the canary's report.json "
                   "(default: /tmp/mlops-course-canary/report.json)")

    p = _command(sub, "mutants", cmd_mutants, "Mutation report: small slips in every autograded answer of a lab (or "
                 "every lab), each run through its question's tests; prints what they catch and writes "
                 "test-artifacts/mutants/<lab>.md.")
    p.add_argument("lab", nargs="?", help="the lab (default: every hands-on lab)")
    p.add_argument("--max-per-kind", type=int, default=8, help="slips per kind and answer cell (default: 8)")
    p.add_argument("--out", help="folder for the Markdown reports (default: test-artifacts/mutants)")
    p.add_argument("--fail-under", type=float, default=0.0, help="exit status 1 if a lab catches less than this percent")
    p.add_argument("--progress", action="store_true", help="show each slip's run as it goes")
    p.add_argument("--question", "-q", action="append", help="only this question: its number, answer or test cell (repeat)")


def add_class_server_commands(sub: argparse._SubParsersAction) -> None:
    """The class server on this machine, and grading on submit."""
    p = _command(sub, "class-server", cmd_class_server, "A class server on this machine (as root): JupyterHub with a "
                 "system account per student, nbgrader's exchange, a PostgreSQL gradebook and an MLflow tracking server.")
    p.add_argument("action", choices=["start", "stop", "status", "teardown", "grade-on-submit"],
                   help="start; stop (keeps every file); status; teardown (also removes the accounts and the state); "
                   "grade-on-submit (--lab LAB: students get feedback within a minute of handing in)")
    p.add_argument("--lab", help="grade-on-submit: the lab to switch on (or off with --off)")
    p.add_argument("--per-hour", type=int, default=3, help="grade-on-submit: gradings per student and hour (default: 3)")
    p.add_argument("--off", action="store_true", help="grade-on-submit: switch it off for --lab")
    p.add_argument("--state", help="the class's state folder (default: $MLOPS_COURSE_CLASS_STATE or classroom/state)")
    p.add_argument("--students", type=int, help="create this many students: student01, student02, ...")
    p.add_argument("--student", action="append", help="a student's name (repeat; accounts are mc-<name>)")
    p.add_argument("--pg-port", type=int, help="PostgreSQL's port (default: a free one)")
    p.add_argument("--hub-port", type=int, help="JupyterHub's port on 127.0.0.1 (default: a free one)")
    p.add_argument("--test-password", help="let every account log in with this one password (trying it out, tests); "
                   "without it, users log in with their system passwords (PAM)")


# Each adds its commands to the subparsers, in the order --help lists them.
COMMAND_GROUPS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    add_course_commands, add_grading_commands, add_gradebook_commands, add_learner_commands, add_quiz_commands,
    add_proof_commands, add_class_server_commands,
)


def build_parser(groups: Sequence[Callable[[argparse._SubParsersAction], None]] = COMMAND_GROUPS) -> argparse.ArgumentParser:
    """The command's parser, with the commands of `groups` (a test leaves one out to see its check fail)."""
    parser = argparse.ArgumentParser(
        prog="mlops-course",
        description="Tools for the MLOps course: release labs, build the book, grade and follow progress.",
    )
    parser.add_argument("--root", help=ROOT_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_commands in groups:
        add_commands(sub)
    return parser


def database_failure(exc: BaseException) -> str | None:
    """One line for a database that stopped answering mid-command (a stopped server), or None for other errors."""
    from sqlalchemy.exc import DBAPIError

    from mlops_course.grading.gradebook import error_line

    if not isinstance(exc, DBAPIError):
        return None
    return f"the gradebook stopped answering: {error_line(exc)} (is the database server running?)"


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except CourseError as exc:
        fail(str(exc))
    except Exception as exc:
        message = database_failure(exc)
        if message is None:
            raise  # a bug: keep the traceback
        fail(message)


if __name__ == "__main__":  # pragma: no cover
    main()
