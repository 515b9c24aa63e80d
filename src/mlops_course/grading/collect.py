"""Collect: bring submissions into autograder/submitted/<student>/<lab>/ for grading.

Two sources: a folder already in nbgrader's `<student>/<lab>/` layout (a copy
of another course's submitted/ folder, an exchange export), and a zip file
downloaded from a learning platform whose entries are named
`<student>_<lab>_<file>` (collected by nbgrader's own `zip_collect`). Anything
that cannot be placed is reported with the reason, never dropped silently.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from mlops_course.course.config import DB_URL_ENV, GRADING_DIR, load_config
from mlops_course.course.layout import lab_names, resolve_labs
from mlops_course.errors import CollectError

DOWNLOADED_DIR = f"{GRADING_DIR}/downloaded"
# An earlier submission that a new one replaces is kept here, as <student>/<lab>/<when it was replaced>/.
REPLACED_DIR = f"{GRADING_DIR}/replaced"


@dataclass
class CollectReport:
    """What a collect placed, and what it could not place and why."""

    collected: list[tuple[str, str]] = field(default_factory=list)  # (student, lab)
    unmatched: list[str] = field(default_factory=list)  # "path: why", not collected
    flagged: list[str] = field(default_factory=list)  # "path: what to fix", collected but needs the instructor
    replaced: dict[tuple[str, str], str] = field(default_factory=dict)  # (student, lab) -> where the earlier copy is kept

    def lines(self) -> list[str]:
        out = []
        for student, lab in self.collected:
            kept = self.replaced.get((student, lab))
            out.append(f"collected {lab} for {student}" + (f" (replaces an earlier submission, kept in {kept})" if kept else ""))
        out += [f"collected with a problem: {item}" for item in self.flagged]
        out += [f"not collected: {item}" for item in self.unmatched]
        out.append(f"{len(self.collected)} submission(s) collected ({len(self.flagged)} with a problem), "
                   f"{len(self.unmatched)} file(s) or folder(s) not collected.")
        return out

    @property
    def ok(self) -> bool:
        """Something was collected, and nothing was refused or needs fixing (the command's exit status)."""
        return bool(self.collected) and not self.unmatched and not self.flagged


def collect_folder(root: Path, source: Path, lab: str | None = None) -> CollectReport:
    """Copy `source/<student>/<lab>/...` into the course's submitted folder (replacing older copies)."""
    root, source = Path(root).resolve(), Path(source).resolve()
    if not source.is_dir():
        raise CollectError(f"{source} is not a folder; expected <student>/<lab>/ folders inside it")
    wanted = set(resolve_labs(root, lab))
    known = set(lab_names(root))
    submitted = root / load_config(root).CourseDirectory.submitted_directory
    report = CollectReport()
    for student_dir in sorted(source.iterdir()):
        if not student_dir.is_dir() or student_dir.is_symlink():
            report.unmatched.append(f"{student_dir.name}: not a <student>/ folder")
            continue
        for lab_dir in sorted(student_dir.iterdir()):
            rel = lab_dir.relative_to(source)
            if not lab_dir.is_dir() or lab_dir.is_symlink():
                report.unmatched.append(f"{rel}: not inside a <lab>/ folder")
            elif lab_dir.name not in known:
                report.unmatched.append(f"{rel}: no lab is named '{lab_dir.name}' (labs: {', '.join(sorted(known))})")
            elif lab_dir.name in wanted and not any(p.is_file() for p in lab_dir.rglob("*")):
                report.unmatched.append(f"{rel}: an empty folder (nothing handed in)")
            elif lab_dir.name in wanted:
                dest = submitted / student_dir.name / lab_dir.name
                kept = keep_earlier(root, dest)
                report.unmatched += _copy_submission(lab_dir, dest, rel)
                _note_replaced(root, dest, kept, (student_dir.name, lab_dir.name), report)
                _expect_notebook(root, lab_dir.name, submitted / student_dir.name / lab_dir.name, rel, report)
                report.collected.append((student_dir.name, lab_dir.name))
    return report


def keep_earlier(root: Path, dest: Path) -> Path | None:
    """Copy a submission about to be replaced to autograder/replaced/<student>/<lab>/<now>/; returns the copy."""
    if not dest.is_dir() or not any(dest.iterdir()):
        return None
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    kept = Path(root) / REPLACED_DIR / dest.parent.name / dest.name / stamp
    shutil.copytree(dest, kept, symlinks=True)
    return kept


def _same_files(a: Path, b: Path) -> bool:
    """Do two submissions hold the same files with the same bytes (their hand-in times aside)?"""
    def files(folder: Path) -> dict[str, bytes]:
        return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*")
                if p.is_file() and p.name != "timestamp.txt"}
    return files(a) == files(b)


def _note_replaced(root: Path, dest: Path, kept: Path | None, key: tuple[str, str], report: CollectReport) -> None:
    """Report where the earlier copy of a replaced submission is kept; a copy identical to the new one is not kept."""
    if kept is None:
        return
    if _same_files(kept, dest):
        shutil.rmtree(kept)
        return
    report.replaced[key] = str(kept.relative_to(root))


def _copy_submission(src: Path, dest: Path, rel: Path) -> list[str]:
    """Copy one submission (no links followed) and give it a timestamp if it has none."""
    skipped = []
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    newest = None
    for path in sorted(src.rglob("*")):
        if path.is_symlink():
            skipped.append(f"{rel / path.relative_to(src)}: a symbolic link (left out)")
        elif path.is_file():
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            newest = max(newest or 0.0, path.stat().st_mtime)
    if newest:
        _stamp_if_missing(dest, dt.datetime.fromtimestamp(newest, dt.timezone.utc))
    return skipped


def _stamp_if_missing(dest: Path, when: dt.datetime) -> None:
    """No hand-in time recorded: the last change to the files is the best evidence there is.

    A zip entry's time has no time zone; it is taken as UTC (platforms build their
    downloads on servers, which mostly keep UTC), so check it if late minutes matter.
    """
    stamp = dest / "timestamp.txt"
    if dest.is_dir() and not stamp.exists():
        stamp.write_text(when.strftime("%Y-%m-%d %H:%M:%S.%f UTC") + "\n")


def _expect_notebook(root: Path, lab: str, dest: Path, rel: Path, report: CollectReport) -> None:
    expected = {p.name for p in (root / "solutions" / lab).glob("*.ipynb")}
    for nb in sorted(dest.glob("*.ipynb")):
        if nb.name not in expected:
            report.flagged.append(f"{rel / nb.name}: unexpected notebook name, expected {', '.join(sorted(expected))} "
                                  f"(rename it in {dest.relative_to(root)}/ and grade again)")


def default_zip_pattern(lab: str) -> str:
    """`<student>_<lab>_<file>`, for nbgrader's FileNameCollectorPlugin (it matches the full path)."""
    return rf".*/(?P<student_id>[^/_]+)_{re.escape(lab)}_(?P<file_id>[^/]+)$"


def collect_zip(root: Path, archive: Path, lab: str, pattern: str | None = None, db_url: str | None = None) -> CollectReport:
    """Collect a learning platform's zip of `<student>_<lab>_<file>` files with nbgrader's zip_collect."""
    from nbgrader.plugins.zipcollect import FileNameCollectorPlugin

    root, archive = Path(root).resolve(), Path(archive).resolve()
    (lab,) = resolve_labs(root, lab)
    if not zipfile.is_zipfile(archive):
        raise CollectError(f"{archive} is not a zip file")
    pattern = pattern or default_zip_pattern(lab)
    if "student_id" not in re.compile(pattern).groupindex or "file_id" not in re.compile(pattern).groupindex:
        raise CollectError(f"the pattern {pattern!r} needs the named groups (?P<student_id>...) and (?P<file_id>...)")
    downloaded = root / DOWNLOADED_DIR / lab
    if downloaded.exists():
        shutil.rmtree(downloaded)
    (downloaded / "archive").mkdir(parents=True)
    shutil.copy(archive, downloaded / "archive" / archive.name)

    report = CollectReport()
    matcher = FileNameCollectorPlugin(named_regexp=pattern)
    released = {p.name for p in (root / "solutions" / lab).glob("*.ipynb")}
    students = set()
    newest: dict[str, dt.datetime] = {}
    with zipfile.ZipFile(archive) as zf:
        for entry in zf.infolist():
            name = entry.filename
            if name.endswith("/"):
                continue
            info = matcher.collect(str(downloaded / "extracted" / name))
            if not info:
                why = ("not a notebook" if not name.endswith(".ipynb") else
                       f"name does not match <student>_{lab}_<file> (if your platform names files differently, "
                       f"give a --pattern: see mlops-course collect --help)")
                report.unmatched.append(f"{name}: {why}")
                continue
            students.add(info["student_id"])
            when = dt.datetime(*entry.date_time, tzinfo=dt.timezone.utc)
            newest[info["student_id"]] = max(newest.get(info["student_id"], when), when)
            if info["file_id"] not in released:
                report.flagged.append(f"{name}: unexpected notebook name '{info['file_id']}', expected "
                                      f"{', '.join(sorted(released))} (rename it in {GRADING_DIR}/submitted/"
                                      f"{info['student_id']}/{lab}/ and grade again)")
    submitted = root / load_config(root).CourseDirectory.submitted_directory
    kept = {student: keep_earlier(root, submitted / student / lab) for student in students}
    env_db = {DB_URL_ENV: db_url} if db_url else {}
    command = [str(Path(sys.executable).parent / "nbgrader"), "zip_collect", lab, "--force",
               f"--FileNameCollectorPlugin.named_regexp={pattern}",
               f"--ZipCollectApp.downloaded_directory={DOWNLOADED_DIR}"]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, env={**os.environ, **env_db}, check=False)
    if result.returncode != 0:
        raise CollectError(f"nbgrader zip_collect failed:\n{(result.stderr or result.stdout).strip()[-2000:]}")
    report.collected = sorted((s, lab) for s in students)
    for student, when in newest.items():
        _stamp_if_missing(submitted / student / lab, when)
    for student in students:
        _note_replaced(root, submitted / student / lab, kept[student], (student, lab), report)
    return report

