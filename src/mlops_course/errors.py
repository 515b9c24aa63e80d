"""Every error the course tools raise on purpose, in one place.

Each error's message speaks to the person who ran the command: it names the
file, lab or cell at fault and, where there is one, the command that fixes it.
The command-line tool prints the message and exits with status 1 instead of
showing a traceback.

The lab helpers' errors also derive from the built-in error Python would
have raised (`DataError` is a `ValueError`, `MissingFileError` a
`FileNotFoundError`...), so a learner's `except ValueError` or
`pytest.raises(ValueError)` around a helper keeps working. No class outside
this module derives from Exception, and no module raises a bare built-in
error: tests/test_errors.py checks both.
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


class GradebookExistsError(GradebookError, FileExistsError):
    """Raised when a new gradebook would overwrite a file that is already there."""


class SubmissionTooLargeError(CourseError, RuntimeError):
    """Raised when a hand-in is larger than the exchange accepts (a RuntimeError, as nbgrader's own submit raises)."""


class CollectError(CourseError):
    """Raised when submissions cannot be collected: a missing folder, a file that is not a zip, a bad pattern."""


class PostgresError(CourseError):
    """Raised when a PostgreSQL cluster for the gradebook cannot be found, started, stopped or used."""


class BookBuildError(CourseError):
    """Raised when the course book does not build cleanly (Sphinx warnings count as errors)."""


class CanaryError(CourseError):
    """Raised when the canary cannot run, or `upgrade` is asked to move pins no passing canary proved."""


class DataError(CourseError, ValueError):
    """Raised when a learner-facing helper gets a table it cannot use: empty, or missing columns."""


class DataTypeError(CourseError, TypeError):
    """Raised when a learner-facing helper gets something that is not a pandas DataFrame."""


class JoinError(DataError):
    """Raised when a join would duplicate or drop flights (fan-out or silent row loss)."""


class SnapshotError(DataError):
    """Raised when a dataset snapshot or its lineage record disagrees with the data (changed after saving, no inputs)."""


class ArgumentError(CourseError, ValueError):
    """Raised when a lab helper is given a value it does not accept: an unknown table or stage, windows out of order."""


class MissingFileError(CourseError, FileNotFoundError):
    """Raised when a file or command a lab helper needs is not there: a dataset version, a schema file, `mlflow`."""


class ModelError(CourseError, ValueError):
    """Raised when a model cannot be used as asked: a version without its threshold, a model FlatForest cannot score."""


class TrackingError(CourseError, RuntimeError):
    """Raised when a helper must record into MLflow and there is no active run to record into."""


class ServerError(CourseError, RuntimeError):
    """Raised when a local server (the lab's service, MLflow's scoring server) stops or fails while starting."""


class ServerTimeoutError(ServerError, TimeoutError):
    """Raised when a local server does not answer within its time; a TimeoutError, as waiting code expects."""


class UnknownCellError(CourseError, KeyError):
    """Raised when a notebook has no cell with the grade_id asked for; the message lists the cells it has."""

    def __str__(self) -> str:
        return Exception.__str__(self)  # KeyError's own would put the whole message in quotes


class GateError(CourseError):
    """Raised when the gate cannot compare: no champion registered, an unknown version or metric."""


class PipelineError(CourseError):
    """Raised when a DVC project is inconsistent or a DVC command fails; names the stage, file or key."""


class MutationError(CourseError):
    """Raised when a tests file cannot be run at all (no such file)."""


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
