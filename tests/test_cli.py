"""Does the mlops-course command list exactly its commands, each with what it does, and fail with one clear line?"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from mlops_course import cli, errors
from mlops_course.course.layout import lab_names

from .conftest import ROOT

# Every command the course documents; a command added or dropped must change this set.
EXPECTED_COMMANDS = {
    "labs", "install-kernel", "release", "book",
    "collect", "autograde", "sandbox",
    "feedback", "export", "report", "formgrade", "roster",
    "check", "validate", "progress",
    "quiz-sheet", "quiz",
    "canary", "upgrade", "mutants",
    "class-server",
}


def run(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlops_course", *args], cwd=cwd, capture_output=True, text=True, check=False)


def listed_commands(help_text: str) -> dict[str, str]:
    """The command column of `--help`: each command's name and its description, its lines joined.

    argparse indents a command's name by four spaces under `COMMAND` and its description further;
    a name too long for the column gets its description on the next lines.
    """
    section = help_text.split("\n  COMMAND\n", 1)[1].split("\n\n", 1)[0]
    listed: dict[str, list[str]] = {}
    for line in section.splitlines():
        entry = re.match(r"^    (\S+)(.*)$", line)
        if entry:
            name = entry.group(1)
            listed[name] = [entry.group(2).strip()]
        else:
            listed[name].append(line.strip())
    return {name: " ".join(filter(None, lines)) for name, lines in listed.items()}


def help_problems(help_text: str) -> list[str]:
    """What is wrong with the command column: expected commands missing, others listed, empty descriptions."""
    listed = listed_commands(help_text)
    problems = [f"missing: {name}" for name in sorted(EXPECTED_COMMANDS - set(listed))]
    problems += [f"not expected: {name}" for name in sorted(set(listed) - EXPECTED_COMMANDS)]
    problems += [f"no description: {name}" for name, description in sorted(listed.items()) if not description]
    return problems


def test_help_lists_exactly_the_expected_commands_each_with_what_it_does():
    """Does --help list every expected command by name, and no other, each with a description?"""
    assert help_problems(run("--help").stdout) == []


@pytest.mark.parametrize("dropped", cli.COMMAND_GROUPS, ids=lambda group: group.__name__)
def test_the_help_check_notices_a_dropped_command_group(dropped):
    """Would the check above fail if a group of commands went missing? Each group left out in turn."""
    groups = [group for group in cli.COMMAND_GROUPS if group is not dropped]
    full = listed_commands(cli.build_parser().format_help())
    kept = listed_commands(cli.build_parser(groups).format_help())
    gone = sorted(set(full) - set(kept))
    assert gone, f"{dropped.__name__} adds no command"
    assert help_problems(cli.build_parser(groups).format_help()) == [f"missing: {name}" for name in gone]


def test_the_help_check_reads_names_not_descriptions():
    """'labs', 'release' and 'book' are words of the program's description: are they still missing once dropped?"""
    parser = cli.build_parser([group for group in cli.COMMAND_GROUPS if group is not cli.add_course_commands])
    text = parser.format_help()
    assert all(word in text for word in ("labs", "release", "book"))
    assert {"missing: labs", "missing: release", "missing: book"} <= set(help_problems(text))


def test_the_help_check_notices_an_empty_description():
    """Does a command listed without a description fail the check?"""
    parser = cli.build_parser()
    (commands,) = [a for a in parser._actions if a.dest == "command"]
    (labs,) = [choice for choice in commands._choices_actions if choice.dest == "labs"]
    labs.help = ""
    assert help_problems(parser.format_help()) == ["no description: labs"]


def test_labs_lists_the_labs():
    """Does `mlops-course labs` print each lab on its own line?"""
    assert run("labs").stdout.split() == lab_names(ROOT)


def test_outside_a_course_folder_says_how_to_fix_it(tmp_path):
    """Run outside the course, does the command say where to run it instead of a traceback?"""
    result = run("labs", cwd=tmp_path)
    assert result.returncode == 1
    assert "no course folder found" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("error", [errors.CourseError("the course says no"), errors.QuizError("the quiz says no"),
                                   errors.UnknownCellError("no cell with grade_id 'x'"),
                                   errors.DataError("the data says no")], ids=lambda e: type(e).__name__)
def test_a_course_error_is_one_line_and_status_1(error, monkeypatch, capsys):
    """Any error of the course's family, raised by any command, is printed as one line, without a traceback."""
    def refuse(args):
        raise error

    monkeypatch.setattr(cli, "cmd_labs", refuse)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["labs"])
    assert stopped.value.code == 1
    assert capsys.readouterr().err == f"error: {Exception.__str__(error)}\n"
