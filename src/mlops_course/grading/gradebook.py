"""New SQLite gradebooks, stamped with nbgrader's schema version without a subprocess.

When nbgrader opens a gradebook that has no tables yet, it creates them and then
asks the `alembic` command, in a subprocess, for the newest migration of its
schema: one to four seconds for every new gradebook. The autograder makes a fresh
gradebook for every batch it grades (and the tests make one for every course they
build), so that wait is paid again and again for the same answer. Here the answer
comes from alembic's own Python API, once per process, and the gradebook is made
exactly as nbgrader makes it: its tables, then the `alembic_version` stamp.
"""

from __future__ import annotations

import functools
import re
import tempfile
from pathlib import Path

from mlops_course.errors import GradebookError, GradebookExistsError


@functools.cache
def alembic_head() -> str:
    """The newest migration of nbgrader's gradebook schema: what `alembic heads` prints."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import write_alembic_ini

    with tempfile.TemporaryDirectory(prefix="mlops-course-alembic-") as scratch:
        ini = Path(scratch) / "alembic.ini"
        write_alembic_ini(str(ini), "sqlite:////tmp/gradebook.db")  # the URL nbgrader passes; nothing opens it
        return ScriptDirectory.from_config(Config(str(ini))).get_current_head()


def create_sqlite_gradebook(path: Path) -> Path:
    """An empty nbgrader gradebook at ``path`` (a new file), as `nbgrader.api.Gradebook` would create it."""
    from nbgrader.api import Base
    from sqlalchemy import create_engine, text

    path = Path(path)
    if path.exists():
        raise GradebookExistsError(f"{path} already exists; a new gradebook needs a new file")
    engine = create_engine(f"sqlite:///{path}", future=True)
    try:
        Base.metadata.create_all(bind=engine)
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL);"))
            connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": alembic_head()})
    finally:
        engine.dispose()
    return path


def shown_url(url: str) -> str:
    """The database URL with its password replaced by ***, for messages people read and paste."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 (not a URL SQLAlchemy can parse: hide anything between ':' and '@' anyway)
        return re.sub(r"(//[^/:@]*):[^@/]*@", r"\1:***@", url)


def require_gradebook(url: str, create: bool = False) -> Path | None:
    """Check that the gradebook at `url` exists and answers, before a command reads or writes it.

    A SQLite gradebook that does not exist is an error (a mistyped --db-url must not
    silently become an empty gradebook, and an empty export), unless `create` is set:
    the first autograde of a new course makes it, and gets its path back to say so.
    Any other database must accept a connection; if not, one line names it (without
    its password) and the reason. Returns the path of a gradebook it created, else None.
    """
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if path.is_file():
            return None
        if not create:
            raise GradebookError(f"there is no gradebook at {path}: give the right --db-url (or $MLOPS_COURSE_DB_URL); "
                                 f"a new course gets one from its first `mlops-course autograde`")
        path.parent.mkdir(parents=True, exist_ok=True)
        return create_sqlite_gradebook(path)
    from sqlalchemy import create_engine

    try:
        engine = create_engine(url)
    except Exception as exc:  # noqa: BLE001 (SQLAlchemy and its drivers raise many kinds; each becomes one GradebookError line)
        raise GradebookError(f"the gradebook URL {shown_url(url)} is not usable: {error_line(exc)}") from None
    try:
        with engine.connect():
            pass
    except Exception as exc:  # noqa: BLE001 (SQLAlchemy and its drivers raise many kinds; each becomes one GradebookError line)
        raise GradebookError(f"cannot reach the gradebook at {shown_url(url)}: {error_line(exc)} "
                             f"(is the database server running?)") from None
    finally:
        engine.dispose()
    return None


def error_line(exc: BaseException) -> str:
    """The first line of a database error (psycopg2's own message, without SQLAlchemy's background links)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
