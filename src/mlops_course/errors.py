"""Every error the course tools raise on purpose, in one place.

Each error's message speaks to the person who ran the command: it names the
file, lab or cell at fault and, where there is one, the command that fixes it.
The command-line tool prints the message and exits with status 1 instead of
showing a traceback.
"""


class CourseError(Exception):
    """Raised when a course command cannot do what it was asked; the base of all errors here."""


class CourseRootNotFoundError(CourseError):
    """Raised when no course folder (one holding solutions/ and nbgrader_config.py) is found."""


class UnknownLabError(CourseError):
    """Raised when a lab name matches no folder in solutions/; the message lists the labs that exist."""

    def __init__(self, name: str, known: list[str]):
        self.name = name
        self.known = known
        listing = ", ".join(known) if known else "(none: solutions/ is empty)"
        super().__init__(f"there is no lab named '{name}'. Labs: {listing}")


class NotebookMetadataError(CourseError):
    """Raised when a solution notebook's nbgrader metadata is broken; names the notebook and the cell."""


class ReleaseError(CourseError):
    """Raised when nbgrader fails to generate the student version of a lab."""


class GradingError(CourseError):
    """Raised when nbgrader fails to grade a submission for a reason outside the student's notebook."""


class GradebookError(CourseError):
    """Raised when the gradebook a command needs does not exist or does not answer; names it (never its password)."""


class CollectError(CourseError):
    """Raised when submissions cannot be collected: a missing folder, a file that is not a zip, a bad pattern."""


class PostgresError(CourseError):
    """Raised when a PostgreSQL cluster for the gradebook cannot be found, started, stopped or used."""


class BookBuildError(CourseError):
    """Raised when the course book does not build cleanly (Sphinx warnings count as errors)."""


class DataError(CourseError, ValueError):
    """Raised when a learner-facing helper gets a table it cannot use: empty, or missing columns."""


class DataTypeError(CourseError, TypeError):
    """Raised when a learner-facing helper gets something that is not a pandas DataFrame."""


class UnknownQuestionError(CourseError):
    """Raised when a question name matches no question of the lab; the message lists the real ones."""


class SelfCheckError(CourseError):
    """Raised when a self-check or validation cannot run: no notebook found, not a lab, a kernel that fails."""


class ScheduleError(CourseError):
    """Raised when the study-group schedule file is missing or malformed; names the file and the entry."""


class ProgressError(CourseError):
    """Raised when progress cannot be read: no notebooks where pointed, or an unreadable gradebook."""


class QuizError(CourseError):
    """Raised when a quiz file breaks its schema or a quiz is unknown; names the file and each faulty question."""


class ClassServerError(CourseError):
    """Raised when the class server cannot start, stop or run: a bad student name, a port in use, a missing proxy."""
