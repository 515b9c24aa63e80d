"""Sphinx extension: the {lab} role that links a lesson to its lab.

``{lab}`lab01-scoping``` renders as "Open Lab 01 — Scoping in JupyterLab" plus
a link to download the notebook. Where "open" leads is set once, in the
book's _config.yml (``sphinx.config.course_lab_launch``):

- ``local``: the JupyterLab that `make lab` starts (``course_local_url``);
- ``jupyterhub``: the user's server on a class JupyterHub (``course_jupyterhub_url``);
- ``binder``: a Binder built from the course repository (``course_binder_url``,
  ``course_repository`` as ``owner/name``, ``course_branch``).

A link to a lab that does not exist in labs/ is a build warning, so a strict
build fails instead of publishing a dead link.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import quote

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)
LAUNCH_MODES = ("local", "jupyterhub", "binder")


def course_root(app: Sphinx) -> Path:
    return Path(app.confdir).resolve().parent


def lab_notebook(app: Sphinx, lab: str) -> Path:
    return course_root(app) / "labs" / lab / f"{lab}.ipynb"


def lab_title(notebook: Path) -> str:
    """The lab's first heading ("Lab 01 — Scoping: ..." → "Lab 01 — Scoping")."""
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].split(":")[0].strip()
    return notebook.stem


def launch_url(config, lab: str) -> str:
    path = f"{lab}/{lab}.ipynb"
    mode = config.course_lab_launch
    if mode == "jupyterhub":
        return f"{config.course_jupyterhub_url.rstrip('/')}/hub/user-redirect/lab/tree/{path}"
    if mode == "binder":
        urlpath = quote(f"lab/tree/labs/{path}", safe="")
        return f"{config.course_binder_url.rstrip('/')}/v2/gh/{config.course_repository}/{config.course_branch}?urlpath={urlpath}"
    return f"{config.course_local_url.rstrip('/')}/lab/tree/{path}"


def check_config(app: Sphinx, config) -> None:
    """Stop the build at once when the lab links could not work: every page would link nowhere.

    A ConfigError ends the build before any page is read, also without --warningiserror, so a
    misconfigured book is never published and its author does not wait for the whole build to learn it.
    """
    from sphinx.errors import ConfigError

    mode = config.course_lab_launch
    if mode not in LAUNCH_MODES:
        raise ConfigError(f"course_lab_launch is '{mode}'; use one of {', '.join(LAUNCH_MODES)}")
    if mode == "jupyterhub" and not config.course_jupyterhub_url:
        raise ConfigError("course_lab_launch is 'jupyterhub' but course_jupyterhub_url is empty; "
                          "set it in book/_config.yml (sphinx: config:)")
    if mode == "binder" and not (config.course_binder_url and config.course_repository):
        raise ConfigError("course_lab_launch is 'binder' but course_binder_url or course_repository is empty; "
                          "set both in book/_config.yml (sphinx: config:)")


def lab_link_nodes(env, lab: str, text: str | None = None, rawtext: str = "") -> list[nodes.Node]:
    """The "Open ... in JupyterLab" link and the download link for a lab that exists in labs/.

    Any page that links a lab (the {lab} role, the study-group schedule) goes
    through here, so every link opens the lab the same way and its notebook is
    copied into the built site for the download link.
    """
    app = env.app
    notebook = lab_notebook(app, lab)
    env.note_dependency(str(notebook))
    env.course_labs_linked = getattr(env, "course_labs_linked", set()) | {lab}
    to_root = "../" * env.docname.count("/")
    open_link = nodes.reference(
        rawtext, text or f"Open {lab_title(notebook)} in JupyterLab", refuri=launch_url(app.config, lab),
        classes=["lab-link"],
    )
    download = nodes.reference(
        "", "download the notebook", refuri=f"{to_root}labs/{lab}/{lab}.ipynb", classes=["lab-download"]
    )
    return [open_link, nodes.Text(" ("), download, nodes.Text(")")]


def lab_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    env = inliner.document.settings.env
    lab = text.strip()
    notebook = lab_notebook(env.app, lab)
    if not notebook.is_file():
        message = inliner.reporter.warning(
            f"no lab '{lab}' in labs/ (expected {notebook}); run `make release` or fix the name", line=lineno
        )
        return [inliner.problematic(rawtext, rawtext, message)], [message]
    return lab_link_nodes(env, lab, rawtext=rawtext), []


def copy_linked_notebooks(app: Sphinx, exception) -> None:
    """Put every linked lab notebook into the built site, where the download links point."""
    if exception is not None or app.builder.format != "html":
        return
    for lab in sorted(getattr(app.env, "course_labs_linked", set())):
        target = Path(app.outdir) / "labs" / lab / f"{lab}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lab_notebook(app, lab), target)


def merge_linked(app, env, docnames, other) -> None:
    env.course_labs_linked = getattr(env, "course_labs_linked", set()) | getattr(other, "course_labs_linked", set())


def setup(app: Sphinx) -> dict:
    app.add_config_value("course_lab_launch", "local", "env")
    app.add_config_value("course_local_url", "http://localhost:8888", "env")
    app.add_config_value("course_jupyterhub_url", "", "env")
    app.add_config_value("course_binder_url", "", "env")
    app.add_config_value("course_repository", "", "env")
    app.add_config_value("course_branch", "main", "env")
    app.add_role("lab", lab_role)
    app.connect("config-inited", check_config)
    app.connect("env-merge-info", merge_linked)
    app.connect("build-finished", copy_linked_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
