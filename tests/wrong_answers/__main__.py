"""Which test catches each wrong answer of a lesson: ``.venv/bin/python tests/wrong_answers 04_lora``.

Runs the lesson's solution under the tiny profile with its wrong answers probed (as the suite does) and prints,
per wrong answer, whether the visible tests catch it, only the hidden ones, or none.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wrong_answers import run_probed  # noqa: E402

from course_utils.layout import check_lessons, find_root  # noqa: E402

root = find_root(Path(__file__).parent)
for lesson in check_lessons(root, sys.argv[1:]):
    with tempfile.TemporaryDirectory() as scratch:
        row, results = run_probed(root, lesson, Path(scratch))
        print(f"{lesson}: {row['status']} in {row['wall_seconds']} s")
        for r in results:
            if "why" in r:
                caught = ("WRONG ANSWER DOES NOT RUN" if r["answer_failed"] else "visible tests" if r["visible"]
                          else "hidden tests" if r["full"] else "NOT CAUGHT")
                note = " (should be visible)" if r["must_be_visible"] and not r["visible"] else ""
                print(f"  {r['grade_id']}: {r['why']}: {caught}{note}")
