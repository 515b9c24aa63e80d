"""The lesson quizzes: their model (`model`), the notebook nbgrader grades (`notebook`), the book's view (`book_view`) and the printed sheet (`sheet`).

May import: `mlops_course.course`, the lab helpers and `mlops_course.errors`.
"""
