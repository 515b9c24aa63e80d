"""Are the lesson quizzes valid, graded right by real nbgrader, shown in the book and printable for groups?

Every quiz file in book/quizzes/ (found at collection time) must validate; a
broken one is refused with the file and question named. Each quiz's generated
assignment (solutions/quiz-<chapter>/) must match its YAML; the key earns full
marks, the blank zero and every single wrong option zero for its question
(batched: submission k answers every question with its k-th wrong answer). Real
nbgrader, through the course's sandboxed `autograde`, grades the key, the blank
and the first wrong submission; the other submissions are proven on the shared
prefix (`mlops_course.proof.shared_prefix`), which must agree with nbgrader. The released notebook
holds no key. The cohort report shows each quiz question's difficulty and
discrimination. In the built book, a browser answers a question wrongly and
rightly and sees the matching explanation, offline.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from mlops_course.grading import nbgrader_runs as grading
from mlops_course.course import notebooks
from mlops_course.quiz import model as quiz
from mlops_course.quiz import notebook as quiz_nb
from mlops_course.quiz import sheet
from mlops_course.proof import shared_prefix
from mlops_course.grading.autograde import autograde
from mlops_course.errors import QuizError
from mlops_course.course.layout import release_notebook, source_notebook

from ..conftest import ROOT, copy_course

CHAPTERS = quiz.chapters(ROOT)
LIFECYCLE = ["01-scoping", "02-data", "03-modeling", "04-deployment", "05-monitoring", "06-pipelines"]
GRADING_JOBS = 2


def load(chapter: str) -> quiz.Quiz:
    return quiz.load_quiz(quiz.quiz_dir(ROOT) / f"{chapter}.yml")


def raw(chapter: str) -> dict:
    return yaml.safe_load((quiz.quiz_dir(ROOT) / f"{chapter}.yml").read_text())


def broken(tmp_path: Path, chapter: str, mutate) -> Path:
    """A copy of the chapter's quiz file with one thing broken by `mutate(data)`."""
    data = copy.deepcopy(raw(chapter))
    mutate(data)
    path = tmp_path / f"{chapter}.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def first(data: dict, kind: str) -> tuple[int, dict]:
    return next((i, q) for i, q in enumerate(data["questions"]) if q["type"] == kind)


# --- the files and their schema -------------------------------------------------------------------

def test_every_lifecycle_chapter_has_a_quiz():
    """Does each of the six lifecycle chapters have a quiz file?"""
    assert CHAPTERS == LIFECYCLE


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_quiz_file_is_valid(chapter):
    """Does the quiz validate, with 6-10 questions mixing the three kinds and an explanation for every option?"""
    found = load(chapter)
    assert 6 <= len(found.questions) <= 10
    assert {q.kind for q in found.questions} == {"single", "multiple", "numeric"}
    for q in found.questions:
        assert all(o.explanation for o in q.options) and (q.kind != "numeric" or (q.explanation and q.wrong))


def test_no_correct_option_is_refused_with_file_and_question(tmp_path):
    """Is a choice question without a correct option refused, naming the file and the question?"""
    def mutate(data):
        index, q = first(data, "single")
        for option in q["options"]:
            option["correct"] = False
        mutate.where = f"question {index + 1} ('{q['id']}')"
    path = broken(tmp_path, "01-scoping", mutate)
    with pytest.raises(QuizError) as excinfo:
        quiz.load_quiz(path)
    assert str(path) in str(excinfo.value) and f"{mutate.where}: no option is correct" in str(excinfo.value)


def test_numeric_answer_without_tolerance_is_refused_with_file_and_question(tmp_path):
    """Is a numeric question without a tolerance refused, naming the file and the question?"""
    def mutate(data):
        index, q = first(data, "numeric")
        del q["tolerance"]
        mutate.where = f"question {index + 1} ('{q['id']}')"
    path = broken(tmp_path, "02-data", mutate)
    with pytest.raises(QuizError) as excinfo:
        quiz.load_quiz(path)
    message = str(excinfo.value)
    assert str(path) in message and re.search(rf"{re.escape(mutate.where)}: 'tolerance' is a required property", message)


def test_option_without_explanation_is_refused_with_file_question_and_option(tmp_path):
    """Is an option without an explanation (missing or blank) refused, naming the file, question and option?"""
    def mutate(data):
        index, q = first(data, "multiple")
        del q["options"][1]["explanation"]
        q["options"][2]["explanation"] = "   "
        mutate.where = f"question {index + 1} ('{q['id']}')"
    path = broken(tmp_path, "03-modeling", mutate)
    with pytest.raises(QuizError) as excinfo:
        quiz.load_quiz(path)
    message = str(excinfo.value)
    assert str(path) in message
    assert f"{mutate.where}, option 2 (as written in the file): 'explanation' is a required property" in message
    assert f"{mutate.where}, option 3 (as written in the file): must not be empty" in message


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: first(d, "single")[1]["options"].__setitem__(1, {**first(d, "single")[1]["options"][1], "correct": True}),
     "a single-choice question needs exactly one correct option"),
    (lambda d: first(d, "numeric")[1]["wrong"].append({"value": first(d, "numeric")[1]["answer"], "explanation": "x"}),
     "is within the tolerance of the answer"),
    (lambda d: d["questions"][1].__setitem__("id", d["questions"][0]["id"]), "the id is used by another question"),
    (lambda d: first(d, "numeric")[1].__setitem__("options", [{"text": "x", "correct": True, "explanation": "y"}]),
     "a numeric question has an answer and a tolerance, not options"),
    (lambda d: d.__setitem__("questions", d["questions"][:3]), "is too short"),
])
def test_other_mistakes_in_a_quiz_are_refused(tmp_path, mutate, expected):
    """Are two right answers to a single choice, a 'wrong' value that is right, a reused id, options on a
    numeric question and too few questions each refused with a message?"""
    path = broken(tmp_path, "04-deployment", mutate)
    with pytest.raises(QuizError, match=re.escape(expected)):
        quiz.load_quiz(path)


def test_an_unreadable_quiz_file_is_named(tmp_path):
    """Is a file that is not YAML reported with its path?"""
    path = tmp_path / "01-scoping.yml"
    path.write_text("questions: [unclosed")
    with pytest.raises(QuizError, match=re.escape(str(path))):
        quiz.load_quiz(path)


def test_right_answers_are_not_always_in_the_same_place():
    """Are the right options spread over the letters rather than always first, as authors write them?"""
    keys = [q.key for c in CHAPTERS for q in load(c).questions if q.kind == "single"]
    assert len(set(keys)) >= 3 and max(keys.count(k) for k in set(keys)) <= len(keys) / 2


def test_accepts_follows_the_answer_rules():
    """Does the key rule accept letters in any case and spacing, lists for sets, ints for floats, and nothing else?"""
    q = load("01-scoping").questions
    single = next(x for x in q if x.kind == "single")
    multiple = next(x for x in q if x.kind == "multiple")
    numeric = next(x for x in q if x.kind == "numeric")
    assert single.accepts(f" {single.key.lower()} ") and not single.accepts(single.key + single.key)
    assert multiple.accepts(sorted(multiple.key)) and not multiple.accepts(sorted(multiple.key)[:-1])
    assert numeric.accepts(numeric.answer + numeric.tolerance) and not numeric.accepts(numeric.answer + 2 * numeric.tolerance)
    assert not numeric.accepts(True) and not numeric.accepts(str(numeric.answer))
    for wrong_question in q:
        for what, value in wrong_question.wrong_answers():
            assert not wrong_question.accepts(value), f"{wrong_question.id}: {what} is accepted"


# --- the generated assignments --------------------------------------------------------------------

@pytest.mark.parametrize("chapter", CHAPTERS)
def test_generated_notebook_is_up_to_date_with_its_yaml(chapter):
    """Is solutions/quiz-<chapter>/ what the YAML generates today (run `mlops-course quiz generate` if not)?"""
    found = load(chapter)
    path = source_notebook(ROOT, found.assignment)
    assert path.is_file(), f"{path} is missing: run `mlops-course quiz generate {chapter}` and commit it"
    assert quiz_nb.comparable(notebooks.read(path)) == quiz_nb.comparable(quiz_nb.quiz_notebook(found)), (
        f"{path} is out of date with book/quizzes/{chapter}.yml: run `mlops-course quiz generate {chapter}` and commit")


def test_an_edited_yaml_makes_the_notebook_out_of_date(tmp_path):
    """Does a change to one explanation-free field (a question's text) change what the notebook must contain?"""
    path = broken(tmp_path, "02-data", lambda d: d["questions"][0].__setitem__("question", "Changed?"))
    assert quiz_nb.comparable(quiz_nb.quiz_notebook(quiz.load_quiz(path))) != quiz_nb.comparable(quiz_nb.quiz_notebook(load("02-data")))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_released_quiz_holds_no_key(chapter):
    """Does the committed student version leave out every answer, every hidden check and every explanation?"""
    found = load(chapter)
    released = release_notebook(ROOT, found.assignment).read_text()
    solution = notebooks.read(source_notebook(ROOT, found.assignment))
    assert "BEGIN SOLUTION" not in released and "HIDDEN TESTS" not in released
    for q in found.questions:
        answer_line = notebooks.find_cell(solution, q.variable).source.splitlines()[1]
        hidden = notebooks.find_cell(solution, q.test_cell).source.split("### BEGIN HIDDEN TESTS\n")[1]
        assert answer_line not in released
        for line in hidden.split("### END HIDDEN TESTS")[0].strip().splitlines():
            assert line.replace('"', '\\"') not in released and line not in released
        explanations = [o.explanation for o in q.options] + [w.explanation for w in q.wrong]
        for text in explanations + ([q.explanation] if q.explanation else []):
            assert text[:60] not in released, f"quiz-{chapter}: an explanation of question {q.number} is released"


def test_quizzes_are_not_held_to_the_lab_rules_they_do_not_need():
    """Do quizzes release without a QUICK parameters cell while labs still need one?"""
    from mlops_course.grading.release import check_metadata

    check_metadata(source_notebook(ROOT, "quiz-01-scoping"))
    assert quiz.is_quiz("quiz-01-scoping") and not quiz.is_quiz("lab01-scoping")


def answers_for(found: quiz.Quiz, k: int) -> dict:
    """Submission k: each question answered with its k-th wrong answer, or with the key when it has fewer."""
    chosen = {}
    for q in found.questions:
        wrong = q.wrong_answers()
        chosen[q.variable] = wrong[k][1] if k < len(wrong) else q.key
    return chosen


def key_in_other_forms(found: quiz.Quiz) -> dict:
    """The key as a learner might also write it: lower case with spaces, a list for a set, an int for a float."""
    forms = {}
    for q in found.questions:
        if q.kind == "single":
            forms[q.variable] = f" {q.key.lower()} "
        elif q.kind == "multiple":
            forms[q.variable] = [letter.lower() for letter in sorted(q.key, reverse=True)]
        else:
            forms[q.variable] = int(q.answer) if float(q.answer).is_integer() else q.answer + q.tolerance / 2
    return forms


# Real nbgrader grades these submissions of every quiz; the others are proven on the shared prefix
# (one process per quiz, each submission in a fork of it: mlops_course.proof.shared_prefix).
GRADED_FOR_REAL = ("key", "blank", "wrong-1")


def submissions(solution, blank, found: quiz.Quiz) -> dict:
    """The key, the key in other forms, the blank quiz and, per rank k, every question's k-th wrong answer."""
    made = {"key": solution, "key-forms": quiz_nb.with_answers(solution, key_in_other_forms(found)), "blank": blank}
    for k in range(max(len(q.wrong_answers()) for q in found.questions)):
        made[f"wrong-{k + 1}"] = quiz_nb.with_answers(solution, answers_for(found, k))
    return made


def on_the_shared_prefix(solution, found: quiz.Quiz, folder: Path) -> shared_prefix.Proof:
    """The key in other forms and every rank of wrong answers, each in a fork of one run of the key."""
    tests = tuple(q.test_cell for q in found.questions)
    variants = [shared_prefix.Variant("key-forms", quiz_nb.answer_sources(key_in_other_forms(found)), tests)]
    for k in range(max(len(q.wrong_answers()) for q in found.questions)):
        variants.append(shared_prefix.Variant(f"wrong-{k + 1}", quiz_nb.answer_sources(answers_for(found, k)), tests))
    folder.mkdir(parents=True)
    return shared_prefix.prove(solution, folder, variants)


def selected_chapters(session: pytest.Session) -> list[str]:
    chosen = {getattr(item, "callspec", None) and item.callspec.params.get("chapter") for item in session.items}
    return [c for c in CHAPTERS if c in chosen] or CHAPTERS


@pytest.fixture(scope="module")
def graded(request, tmp_path_factory):
    """The selected quizzes graded: real nbgrader, in one throwaway course, grades each quiz's key, blank
    and first wrong submission; the key in other forms and the other ranks of wrong answers are proven on
    the shared prefix. Returns (course, {chapter: {student: scores}}, {chapter: proof})."""
    chapters = selected_chapters(request.session)
    course = copy_course(tmp_path_factory.mktemp("quiz-course"), [load(c).assignment for c in chapters])
    scores, proving = {}, {}
    # The shared-prefix proofs run one after another beside real grading, which leaves a core idle between kernels.
    with ThreadPoolExecutor(max_workers=1) as background:
        for chapter in chapters:
            found = load(chapter)
            lab = found.assignment
            grading.generate_assignment(course, lab)
            solution = notebooks.read(source_notebook(course, lab))
            made = submissions(solution, notebooks.read(release_notebook(course, lab)), found)
            for student in GRADED_FOR_REAL:
                grading.submit(course, lab, student, {lab: made[student]})
            proving[chapter] = background.submit(on_the_shared_prefix, solution, found,
                                                 tmp_path_factory.mktemp(f"prefix-{chapter}") / lab)
        results = autograde(course, None, jobs=GRADING_JOBS, progress=False)
    proofs = {chapter: future.result() for chapter, future in proving.items()}
    not_graded = {(r.lab, r.student): r.reasons for r in results if r.status == "not graded"}
    assert not not_graded, f"the autograder could not grade {not_graded}"
    for chapter in chapters:
        made = [name for name in proofs[chapter].variants if name not in GRADED_FOR_REAL]
        scores[chapter] = {student: proofs[chapter].variants[student].cells for student in made}
        problems = proofs[chapter].problems
        assert not problems, f"quiz-{chapter}: the shared prefix could not prove {problems}"
        for student in GRADED_FOR_REAL:
            scores[chapter][student] = grading.cell_scores(course, load(chapter).assignment, student)
    return course, scores, proofs


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_shared_prefix_agrees_with_real_grading(chapter, graded):
    """Do the key and the first wrong submission earn, question by question, what real nbgrader gives them?"""
    _, scores, proofs = graded
    route = {"key": proofs[chapter].solution, "wrong-1": proofs[chapter].variants["wrong-1"].cells}
    for student, cells in route.items():
        real = {k: (v.score, v.max_score) for k, v in scores[chapter][student].items()}
        assert {k: (v.score, v.max_score) for k, v in cells.items()} == real, f"quiz-{chapter}: '{student}' differs"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_key_gets_full_marks_in_any_accepted_form(chapter, graded):
    """Does the key, as written and in other accepted forms, earn every point of the quiz?"""
    _, scores, _ = graded
    for student in ("key", "key-forms"):
        lost = {k: f"{v.score}/{v.max_score}" for k, v in scores[chapter][student].items() if v.score < v.max_score}
        assert not lost, f"quiz-{chapter}: '{student}' lost points in {lost}"
    assert len(scores[chapter]["key"]) == len(load(chapter).questions)


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_blank_quiz_gets_zero(chapter, graded):
    """Does the untouched released quiz score zero?"""
    _, scores, _ = graded
    earned = {k: v.score for k, v in scores[chapter]["blank"].items() if v.score > 0}
    assert not earned, f"the blank quiz-{chapter} earned points in {earned}"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_wrong_option_loses_its_questions_points(chapter, graded):
    """Does every single wrong answer (each wrong letter, each one-option slip in a multiple choice, each
    known wrong value and a value just outside the tolerance) score zero on its question, and only there?"""
    _, scores, _ = graded
    found = load(chapter)
    checked = 0
    for q in found.questions:
        wrong = q.wrong_answers()
        for k in range(len(scores[chapter]) - 3):
            cell = scores[chapter][f"wrong-{k + 1}"][q.test_cell]
            if k < len(wrong):
                assert cell.score == 0, f"quiz-{chapter} question {q.number} ({q.id}): {wrong[k][0]} earned {cell.score}"
                checked += 1
            else:
                assert cell.score == cell.max_score, f"quiz-{chapter} question {q.number}: the key lost points"
    assert checked == sum(len(q.wrong_answers()) for q in found.questions)


@pytest.mark.slow
def test_the_cohort_report_shows_each_quiz_questions_difficulty_and_discrimination(graded, tmp_path):
    """Does the cohort report list every quiz question with the share of students who got it right and a
    discrimination, and show each quiz on the page?"""
    from mlops_course.grading.cohort import question_stats, read_gradebook, write_report

    course, scores, _ = graded
    stats = question_stats(read_gradebook(course).questions)
    for chapter in scores:
        found = load(chapter)
        rows = stats[stats["lab"] == found.assignment].set_index("question")
        assert sorted(rows.index) == sorted(q.test_cell for q in found.questions)
        students = {s: scores[chapter][s] for s in GRADED_FOR_REAL}  # those in the gradebook
        for q in found.questions:
            right = sum(s[q.test_cell].score == s[q.test_cell].max_score for s in students.values())
            assert rows.loc[q.test_cell, "difficulty"] == pytest.approx(right / len(students))
            assert -1 <= rows.loc[q.test_cell, "discrimination"] <= 1, f"{q.test_cell} has no discrimination"
    page = write_report(course, tmp_path / "report").read_text()
    for chapter in scores:
        assert f"questions-quiz-{chapter}.png" in page and load(chapter).questions[0].test_cell in page


# --- the study-group sheet ------------------------------------------------------------------------

def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlops_course", "--root", str(ROOT), *args],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_sheet_has_the_questions_then_the_answers_on_a_second_page(chapter):
    """Does the sheet list every question and option first, and the answers with every explanation only
    after the page break?"""
    found = load(chapter)
    questions_page, answers_page = sheet.sheet_markdown(found).split(sheet.PAGE_BREAK)
    for q in found.questions:
        assert q.text in questions_page and f"**{q.number}.**" in questions_page
        for o in q.options:
            assert o.text in questions_page and o.explanation not in questions_page
            assert o.explanation in answers_page
        for w in q.wrong:
            assert w.explanation in answers_page and w.explanation not in questions_page
    assert "(right)" not in questions_page and "(wrong)" not in questions_page


def test_quiz_sheet_command_prints_and_writes_html(tmp_path):
    """Does `mlops-course quiz-sheet 02` print the Markdown sheet, and --output x.html a page that breaks before
    the answers?"""
    printed = cli("quiz-sheet", "02")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith("# Quiz — Data") and sheet.PAGE_BREAK in printed.stdout
    out = tmp_path / "sheet.html"
    written = cli("quiz-sheet", "02-data", "--output", str(out))
    assert written.returncode == 0, written.stderr
    page = out.read_text()
    assert "page-break-before: always" in page and page.index("Answers") > page.index("page-break-before")


def test_quiz_sheet_names_the_known_chapters_for_a_wrong_name():
    """Does a wrong chapter name give one clear line listing the chapters that have a quiz?"""
    result = cli("quiz-sheet", "07-ethics")
    assert result.returncode == 1
    assert "no quiz for chapter '07-ethics'" in result.stderr and ", ".join(CHAPTERS) in result.stderr
    assert "Traceback" not in result.stderr


def test_quiz_generate_writes_the_assignment(tmp_path):
    """Does `mlops-course quiz generate` rebuild a deleted quiz notebook from its YAML, identical to the committed one?"""
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    (course / "solutions").mkdir()
    shutil.copytree(quiz.quiz_dir(ROOT), quiz.quiz_dir(course))
    result = subprocess.run([sys.executable, "-m", "mlops_course", "--root", str(course), "quiz", "generate", "05",
                             "--no-release"], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    made = source_notebook(course, "quiz-05-monitoring")
    assert quiz_nb.comparable(notebooks.read(made)) == quiz_nb.comparable(notebooks.read(source_notebook(ROOT, "quiz-05-monitoring")))


# --- the book -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_each_chapter_page_embeds_its_quiz_with_local_scripts(built_book):
    """Does each chapter's page hold its quiz's questions and load jupyterquiz from the book itself?"""
    for chapter in CHAPTERS:
        page = (built_book / "chapters" / f"{chapter}.html").read_text()
        assert f'id="quiz-{chapter}"' in page and "Check your understanding" in page
        assert '_static/jupyterquiz/jupyterquiz.js' in page
    script = (built_book / "_static" / "jupyterquiz" / "jupyterquiz.js").read_text()
    assert "function show_questions" in script and "cdn.jsdelivr" not in script


@pytest.mark.slow
def test_a_broken_quiz_fails_the_strict_book_build(tmp_path):
    """Does a strict build refuse a chapter whose quiz file is invalid, naming the file and question?"""
    from mlops_course.errors import BookBuildError

    shutil.copytree(ROOT / "book", tmp_path / "book", ignore=shutil.ignore_patterns("_build"))
    shutil.copytree(ROOT / "labs", tmp_path / "labs")
    path = quiz.quiz_dir(tmp_path) / "01-scoping.yml"
    path.write_text(path.read_text().replace("tolerance: 0.005", "precision: 3", 1))
    result = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                             "from mlops_course.book.build import build_book; build_book(Path(sys.argv[1]))", str(tmp_path)],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode != 0 and BookBuildError.__name__ in result.stderr
    assert "01-scoping.yml" in result.stderr + result.stdout and "cost-threshold" in result.stderr + result.stdout


def plain(text: str) -> str:
    """Quiz text as a browser shows it: no Markdown marks, single spaces."""
    return re.sub(r"\s+", " ", text.replace("`", "").replace("*", "")).strip()


@pytest.mark.slow
@pytest.mark.browser
def test_a_reader_gets_the_explanation_of_a_wrong_and_a_right_answer_in_the_book(built_book, tmp_path, artifacts):
    """In the built book, opened offline, does a wrong answer show its explanation marked wrong, the right one
    its explanation marked right, and a right number its explanation?"""
    from ..browsers import chromium_context, require_chromium

    require_chromium()
    from playwright.sync_api import sync_playwright

    chapter = "02-data"
    found = load(chapter)
    single = next(q for q in found.questions if q.kind == "single")
    numeric = next(q for q in found.questions if q.kind == "numeric")
    wrong = next(o for o in single.options if not o.correct)
    right = next(o for o in single.options if o.correct)
    with sync_playwright() as p, chromium_context(p, tmp_path / "profile") as (context, guard):
        page = context.new_page()
        page.goto((built_book / "chapters" / f"{chapter}.html").as_uri())
        questions = page.locator(f"#quiz-{chapter} .Quiz")
        questions.nth(len(found.questions) - 1).wait_for(timeout=30_000)
        assert questions.count() == len(found.questions)
        box = questions.nth(single.number - 1)
        feedback = box.locator(".Feedback")
        box.locator(".MCButton", has_text=re.compile(rf"^\s*{wrong.letter}\.")).first.click()
        assert "incorrect" in feedback.get_attribute("class")
        assert plain(wrong.explanation)[:80] in plain(feedback.inner_text())
        box.locator(".MCButton", has_text=re.compile(rf"^\s*{right.letter}\.")).first.click()
        assert "correct" in feedback.get_attribute("class").split()
        assert plain(right.explanation)[:80] in plain(feedback.inner_text())
        box.screenshot(path=artifacts / f"quiz-{chapter}-question-{single.number}.png")
        number = questions.nth(numeric.number - 1)
        field = number.locator("input.Input-text")
        field.click()
        field.type(f"{numeric.answer:g}")
        field.press("Enter")
        number_feedback = number.locator(".Feedback")
        number_feedback.wait_for(timeout=5_000)
        assert "correct" in number_feedback.get_attribute("class").split()
        assert plain(numeric.explanation)[:40] in plain(number_feedback.inner_text())
        assert not guard.blocked, f"the quiz tried to reach the internet: {guard.blocked}"
