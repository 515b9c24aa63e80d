"""nbgrader's exchange on a shared machine: a submission only its student and the instructor can read.

nbgrader's own submit leaves each submission in `inbound/` readable by every
account (files 0644, the folder 0777) and relies on an unlistable `inbound/`
and a random folder name to hide it. On the class server `inbound/` belongs to
the instructor's group with the set-group-id bit, so everything a student
hands in belongs to that group; `PrivateSubmit` then takes the "others" bits
away, and only the student and the instructor can read or remove it.
"""

from __future__ import annotations

import os

from nbgrader.exchange.default.submit import ExchangeSubmit

OTHERS = 0o007
SUBMISSION_FOLDER_MODE = 0o2770  # owner and the instructor's group: read, write (the instructor removes it later)


class PrivateSubmit(ExchangeSubmit):
    """nbgrader's submit, with nothing in the inbound copy readable by other students."""

    def set_perms(self, dest, fileperms, dirperms):
        super().set_perms(dest, fileperms & ~OTHERS, dirperms & ~OTHERS)

    def copy_files(self):
        super().copy_files()
        os.chmod(os.path.join(self.inbound_path, self.assignment_filename), SUBMISSION_FOLDER_MODE)
