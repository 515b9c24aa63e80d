"""The course book: its build, and the Sphinx extensions its pages use.

`build` runs Jupyter Book 1.x offline; `lab_links` links each chapter to its lab, `offline_math`
serves MathJax from the installed package, `quiz_directive` shows a lesson's quiz and
`schedule_page` the study group's plan (`book/_config.yml` names them).

May import: `mlops_course.grading` and everything below it; never the class server, the proofs or
the command line.
"""
