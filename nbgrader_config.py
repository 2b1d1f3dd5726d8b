"""nbgrader configuration: solutions/ (instructor source) -> course/ (student release).

Use the wrappers in ``python -m course_utils.instructor`` (they pass --force, the course root and a
PATH on which nbgrader finds ``alembic``); see docs/instructor_guide.md.
"""

import os

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades

c = get_config()  # noqa: F821 - injected by nbgrader

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "fine-tuning-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "course"

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Grading: a stuck cell costs only that cell; a deleted or edited test cell is restored from the gradebook.
c.Execute.timeout = 120
c.Execute.kernel_name = "python3"
c.OverwriteCells.add_missing_cells = True

# Feedback shows the student's notebook with scores; hidden test code stays hidden.
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
