"""The lesson quizzes: their model, the notebook nbgrader grades, the book's view and the printed sheet.

May import: `mlops_course.course`, the lab helpers and `mlops_course.errors`.
"""
