"""Sphinx extension: the {quiz} directive that shows a chapter's quiz, interactive and offline.

````
```{quiz} 02-data
```
````

reads `book/quizzes/02-data.yml`, validates it (a broken quiz fails the strict
build with the file and question named) and renders it with jupyterquiz's
JavaScript: each click shows that option's explanation at once. jupyterquiz
normally runs inside an executed notebook; here its JavaScript and CSS are
copied from the installed package into the book's `_static/jupyterquiz/`, so
the page needs no kernel, no server and no network.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from mlops_course.errors import QuizError
from mlops_course.quiz.book_view import jupyterquiz_questions
from mlops_course.quiz.model import QUIZ_DIR, load_quiz

TARGET = "_static/jupyterquiz"
SCRIPT = "jupyterquiz.js"
STYLE = "jupyterquiz.css"
# jupyterquiz loads MathJax from a CDN when it finds a half-started MathJax; the book ships its own.
CDN_MATHJAX = "script.src = 'https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-svg.js';"
STARTUP = """
// The course book: start every quiz on the page from the JSON embedded beside it.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("div.mlops-quiz[data-quiz]").forEach(function (container) {
    var data = document.getElementById(container.id + "-questions");
    show_questions(JSON.parse(data.textContent), container);
  });
});
"""
COLOURS = {
    "--jq-multiple-choice-bg": "#2c4f7c", "--jq-mc-button-bg": "#fafafa", "--jq-mc-button-border": "#d0d0d0",
    "--jq-mc-button-inset-shadow": "#555555", "--jq-many-choice-bg": "#7a3b69", "--jq-numeric-bg": "#2c4f7c",
    "--jq-numeric-input-bg": "#e8e8e8", "--jq-numeric-input-label": "#101010", "--jq-numeric-input-shadow": "#999999",
    "--jq-string-bg": "#4c1a57", "--jq-incorrect-color": "#b00020", "--jq-correct-color": "#1b7f2a",
    "--jq-text-color": "#fafafa", "--jq-link-color": "#cfe0ff",
}
# The book's body text is smaller than a notebook's; let the quiz use the page's width and font.
OVERRIDES = """
.mlops-quiz .Quiz { max-width: 100% !important; font-size: 1rem; line-height: 1.4; }
.mlops-quiz .MCButton { font-size: 0.95rem; }
.mlops-quiz .Feedback { font-size: 0.95rem; line-height: 1.4; }
"""


def jupyterquiz_files() -> Path:
    import jupyterquiz

    return Path(jupyterquiz.__file__).parent


def script_text() -> str:
    """jupyterquiz's JavaScript in one file, without its CDN fallback, plus the book's start-up code."""
    js = jupyterquiz_files() / "js"
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(js.glob("*.js")))
    if CDN_MATHJAX not in text:
        raise QuizError(f"jupyterquiz changed: its CDN fallback for MathJax was not found in {js}; update {__name__}")
    return text.replace(CDN_MATHJAX, "return;  // the course book serves MathJax itself") + STARTUP


def style_text() -> str:
    colours = "".join(f"  {name}: {value};\n" for name, value in COLOURS.items())
    css = (jupyterquiz_files() / "styles.css").read_text(encoding="utf-8")
    return f".mlops-quiz {{\n{colours}}}\n{css}\n{OVERRIDES}"


def quiz_html(chapter: str, questions: list[dict]) -> str:
    """The container jupyterquiz fills, and the questions as JSON beside it (never run as script)."""
    element = f"quiz-{chapter}"
    payload = json.dumps(questions, ensure_ascii=False).replace("</", "<\\/")
    return (f'<div class="mlops-quiz" id="{html.escape(element)}" data-quiz="{html.escape(chapter)}" '
            'data-shufflequestions="False" data-shuffleanswers="False" data-preserveresponses="false" '
            f'data-numquestions="{len(questions)}" data-maxwidth="0"></div>\n'
            f'<script type="application/json" id="{html.escape(element)}-questions">{payload}</script>')


class QuizDirective(SphinxDirective):
    """```{quiz} <chapter>```: the chapter's quiz from book/quizzes/<chapter>.yml."""

    required_arguments = 1
    option_spec = {"class": directives.class_option}

    def run(self) -> list[nodes.Node]:
        chapter = self.arguments[0]
        path = Path(self.env.srcdir) / QUIZ_DIR.name / f"{chapter}.yml"
        self.env.note_dependency(str(path))
        if not path.is_file():
            raise self.error(f"no quiz file {path} for chapter '{chapter}'")
        try:
            quiz = load_quiz(path)
        except QuizError as exc:
            raise self.error(str(exc)) from None
        intro = nodes.paragraph(text=(
            f"{len(quiz.questions)} questions. Click an answer (or type a number and press Enter) to see why it is "
            "right or wrong; some questions have several right answers."))
        return [intro, nodes.raw("", quiz_html(chapter, jupyterquiz_questions(quiz)), format="html")]


def copy_assets(app: Sphinx, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / TARGET
    target.mkdir(parents=True, exist_ok=True)
    (target / SCRIPT).write_text(script_text(), encoding="utf-8")
    (target / STYLE).write_text(style_text(), encoding="utf-8")


def setup(app: Sphinx) -> dict:
    app.add_directive("quiz", QuizDirective)
    app.add_js_file(f"jupyterquiz/{SCRIPT}")
    app.add_css_file(f"jupyterquiz/{STYLE}")
    app.connect("build-finished", copy_assets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
