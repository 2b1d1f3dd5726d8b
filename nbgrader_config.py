"""nbgrader configuration: solutions/ (instructor source) -> course/ (student release).

Use the wrappers in ``python -m course_utils.tools.instructor`` (they pass --force, the course root and a
PATH on which nbgrader finds ``alembic``); see the instructor guide, solutions/README.md.
"""

import os

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.converters import Autograde
from nbgrader.preprocessors import ClearHiddenTests, Execute, GetGrades

from course_utils.tools.execute import GradingExecute
from course_utils.tools.feedback import HideHiddenTests

c = get_config()  # noqa: F821 - injected by nbgrader

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "fine-tuning-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "course"

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Grading: a stuck cell costs only that cell; a deleted or edited test cell is restored from the gradebook.
c.Execute.timeout = 120
# After the interrupt that ends a stuck cell, time for the kernel to finish its output: nbclient waits 4 s, too
# little for a sandboxed kernel on busy cores (the submission is then left ungraded).
c.Execute.iopub_timeout = 30
c.Execute.kernel_name = "python3"
# An answer that ignores the interrupt, or kills its kernel, costs its cell: the kernel restarts and grading goes on;
# and the report flags kernels whose cell-running machinery changed (course_utils/tools/execute.py).
c.Autograde.autograde_preprocessors = [GradingExecute if step is Execute else step
                                       for step in Autograde.class_traits()["autograde_preprocessors"].default()]
c.OverwriteCells.add_missing_cells = True

# Feedback shows the student's notebook with scores; hidden test code stays hidden, tracebacks included.
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, ClearHiddenTests, CSSHTMLHeaderPreprocessor]

# LMS downloads (`python -m course_utils.tools.instructor collect LESSON`): notebooks named STUDENTID_LESSON.ipynb,
# e.g. ada_04_lora.ipynb, loose or inside zip files in downloaded/LESSON/archive/.
c.FileNameCollectorPlugin.named_regexp = r".*/(?P<student_id>[^/]+?)_(?P<file_id>\d\d_[A-Za-z0-9_]+\.ipynb)$"
