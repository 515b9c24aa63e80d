"""A quiz as the book shows it: jupyterquiz's questions, every option with its explanation as feedback.

The book's {quiz} directive (`mlops_course.book.quiz_directive`) embeds this list in the chapter's page.
"""

from __future__ import annotations

import html
import re
from typing import Any

from mlops_course.quiz.model import FLOAT_SLACK, Quiz


def inline_html(text: str) -> str:
    """Quiz text to HTML: escaped, `code` and **bold** kept, `$` as an entity so jupyterquiz reads no math."""
    out = html.escape(text.strip(), quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)
    out = re.sub(r"(?<![*\w])\*([^*\s][^*]*)\*(?!\*)", r"<i>\1</i>", out)
    return out.replace("$", "&#36;").replace("\n\n", "<br><br>")


def jupyterquiz_questions(quiz: Quiz) -> list[dict]:
    """The quiz in jupyterquiz's JSON format, with every option's explanation as its feedback."""
    result = []
    for q in quiz.questions:
        text = f"<b>{q.number}.</b> {inline_html(q.text)}"
        item: dict[str, Any] = {"question": text}
        if q.code:
            item["code"] = html.escape(q.code.rstrip())
        if q.kind == "numeric":
            tol = q.tolerance
            item.update(type="numeric", answers=[
                {"type": "range", "range": [q.answer - tol - FLOAT_SLACK, q.answer + tol + FLOAT_SLACK], "correct": True,
                 "feedback": f"Right. {inline_html(q.explanation)}"},
                *({"type": "range", "range": [w.value - tol, w.value + tol], "correct": False,
                   "feedback": f"Not quite. {inline_html(w.explanation)}"} for w in q.wrong),
                {"type": "default", "feedback": "Not quite. Work it out from the chapter's formula and try again."},
            ])
        else:
            item.update(type="multiple_choice" if q.kind == "single" else "many_choice", answers=[
                {"answer": f"<b>{o.letter}.</b> {inline_html(o.text)}", "correct": o.correct,
                 "feedback": f"{'Right' if o.correct else 'Not quite'}. {inline_html(o.explanation)}",
                 **({"code": html.escape(o.code.strip())} if o.code else {})}
                for o in q.options])
            if q.kind == "multiple":
                item["question"] += " <i>(Several options are right: find them all.)</i>"
        result.append(item)
    return result
