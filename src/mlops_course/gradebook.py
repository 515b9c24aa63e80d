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
import tempfile
from pathlib import Path


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
        raise FileExistsError(f"{path} already exists; a new gradebook needs a new file")
    engine = create_engine(f"sqlite:///{path}", future=True)
    try:
        Base.metadata.create_all(bind=engine)
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL);"))
            connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": alembic_head()})
    finally:
        engine.dispose()
    return path
