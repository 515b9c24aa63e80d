"""A quiz printed for a study group: the questions on one page, the answers with every explanation on the next."""

from __future__ import annotations

import html

from mlops_course.quiz.model import Quiz


PAGE_BREAK = '<div style="page-break-before: always; break-before: page;"></div>'


def sheet_markdown(quiz: Quiz) -> str:
    """A discussion sheet: the questions on the first page, the answers with every explanation on the second."""
    lines = [f"# Quiz — {quiz.title}", "",
             "*Study-group sheet.* Answer each question alone first (a minute each), then compare with the group: "
             "where you disagree, each side explains its reasoning before anyone looks at page 2.", ""]
    for q in quiz.questions:
        lines.append(f"**{q.number}.** {q.text}")
        if q.code:
            lines += ["", "```python", q.code.rstrip(), "```"]
        lines.append("")
        if q.kind == "numeric":
            lines += [f"Answer: ______________ (within {q.tolerance:g})", ""]
            continue
        if q.kind == "multiple":
            lines += ["*Several options are right.*", ""]
        for o in q.options:
            lines.append(f"- **{o.letter}.** {o.text}" + (f" `{o.code.strip()}`" if o.code else ""))
        lines.append("")
    lines += [PAGE_BREAK, "", f"## Answers — {quiz.title}", ""]
    for q in quiz.questions:
        if q.kind == "numeric":
            lines += [f"**{q.number}. {q.answer:g}** (within {q.tolerance:g}). {q.explanation}", ""]
            lines += [f"- *{w.value:g}:* {w.explanation}" for w in q.wrong]
        else:
            letters = ", ".join(o.letter for o in q.options if o.correct)
            lines += [f"**{q.number}. {letters}**", ""]
            lines += [f"- **{o.letter}** ({'right' if o.correct else 'wrong'}): {o.explanation}" for o in q.options]
        lines.append("")
    return "\n".join(lines)


def sheet_html(quiz: Quiz) -> str:
    """The sheet as a standalone HTML page that prints on two pages."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": True}).render(sheet_markdown(quiz))
    style = ("body{font-family:sans-serif;max-width:46em;margin:1.5em auto;font-size:11pt;line-height:1.35}"
             "ul{margin:.2em 0 .8em}li{margin:.1em 0}p{margin:.5em 0}code{font-size:95%}"
             "@media print{body{margin:0}}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(quiz.title)}</title>"
            f"<style>{style}</style></head><body>{body}</body></html>")
