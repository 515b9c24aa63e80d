"""nbgrader's exchange on a shared machine: a submission only its student and the instructor can read.

nbgrader's own submit leaves each submission in `inbound/` readable by every
account (files 0644, the folder 0777) and relies on an unlistable `inbound/`
and a random folder name to hide it. On the class server `inbound/` belongs to
the instructor's group with the set-group-id bit, so what a student hands in
belongs to that group. `PrivateSubmit` copies the submission without copying
the student's folder modes (which would drop the set-group-id bit before
nbgrader writes its timestamp), then takes the "others" bits away: only the
student and the instructor can read or remove it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from nbgrader.exchange.default.submit import ExchangeSubmit
from nbgrader.utils import ignore_patterns

from mlops_course.errors import SubmissionTooLargeError

OTHERS = 0o007
SUBMISSION_FOLDER_MODE = 0o770  # the student and the instructor's group (who removes it after collecting)


class PrivateSubmit(ExchangeSubmit):
    """nbgrader's submit, with nothing in the inbound copy readable by other students."""

    def do_copy(self, src, dest, *args, **kwargs):
        if not Path(dest).is_relative_to(self.inbound_path):
            return super().do_copy(src, dest, *args, **kwargs)
        if self.get_size(src) > 1000 * self.coursedir.max_dir_size:
            raise SubmissionTooLargeError(f"Directory size is too big: {self.get_size(src)} bytes; "
                                          "remove large files (data, models) from the lab's folder and submit again")
        ignore = ignore_patterns(exclude=self.coursedir.ignore, include=self.coursedir.include,
                                 max_file_size=self.coursedir.max_file_size, log=self.log)
        for folder, dirs, files in os.walk(src):
            skipped = set(ignore(folder, dirs + files))
            dirs[:] = [d for d in dirs if d not in skipped]
            target = Path(dest) / Path(folder).relative_to(src)
            target.mkdir(parents=True, exist_ok=True)  # inherits the group and the set-group-id bit
            for name in files:
                if name not in skipped and not os.path.islink(os.path.join(folder, name)):
                    shutil.copyfile(os.path.join(folder, name), target / name)

    def set_perms(self, dest, fileperms, dirperms):
        super().set_perms(dest, fileperms & ~OTHERS, dirperms & ~OTHERS)

    def copy_files(self):
        super().copy_files()
        os.chmod(os.path.join(self.inbound_path, self.assignment_filename), SUBMISSION_FOLDER_MODE)
