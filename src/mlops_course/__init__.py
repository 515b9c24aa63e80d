"""The MLOps course's package: the helpers labs import, and the tools that build, grade and serve the course.

Nothing heavy happens at import time: modules import their own dependencies when they are used.

The lab helpers sit at the top level, imported by the notebooks exactly as written there, so no
learner's notebook breaks when the package changes:

| Lab | Helpers it imports |
|---|---|
| lab01-scoping | `checks`, `data`, `selfcheck` |
| lab02-data | `checks`, `data`, `datasets`, `drift`, `schema`, `selfcheck`, `tracking` |
| lab03-modeling | `checks`, `datasets`, `models` (with `forest`), `selfcheck`, `tracking` |
| lab04-deployment | `checks`, `data`, `datasets`, `models`, `schema`, `selfcheck`, `serving`, `tracking` |
| lab05-monitoring | `checks`, `datasets`, `drift`, `models`, `monitoring`, `selfcheck`, `tracking` |
| lab06-pipelines | `datasets`, `gate`, `models`, `mutation`, `pipeline`, `schema`, `selfcheck`, `stages`, `tracking` |

Every error a user can meet is in `errors`. The rest is one subpackage per concern, each listed
with what it may import (import-linter checks the layers, `[tool.importlinter]` in pyproject.toml):

- `course`: the course's folders, configuration, notebooks, questions, kernel and schedule;
- `learner`: the self-check, validate, progress and scratch copies;
- `quiz`: the lesson quizzes;
- `grading`: release, collect, the sandboxed batch, the gradebook, feedback, export and reports;
- `classroom`: the class server (JupyterHub, PostgreSQL, MLflow, the exchange, grading on submit);
- `book`: the book's build and its Sphinx extensions;
- `proof`: the shared prefix, the mutation report and the dependency canary;
- `cli`: the `mlops-course` command, which parses and calls the function of each.
"""

__version__ = "0.1.0"
