"""The course's data: customer-support e-mails (the running example) and a general-domain probe set.

``load_emails()`` returns a ``datasets.DatasetDict`` with ``train``, ``validation``, ``test`` and
``shifted_test`` read from the JSONL files shipped in ``emails/`` (see ``DATA_CARD.md``).
``load_unlabelled_emails(n)`` makes a pool of further e-mails from the train distribution, without labels to train on
(lesson 09). ``load_paraphrase_probe()`` returns sentence pairs for measuring forgetting (lesson 03).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datasets

from ..profiles import Profile, resolve_profile
from .schema import INTENTS, SPLIT_SIZES, TONES, URGENCIES

DATA_DIR = Path(__file__).resolve().parent
EMAILS_DIR = DATA_DIR / "emails"
PROBE_FILE = DATA_DIR / "probe" / "paraphrase_pairs.jsonl"
SPLITS = tuple(SPLIT_SIZES)
LABEL2ID = {label: i for i, label in enumerate(INTENTS)}
ID2LABEL = dict(enumerate(INTENTS))
EMAIL_FIELDS = ("id", "text", "intent", "urgency", "tone", "style", "secondary_intent")

__all__ = ["INTENTS", "URGENCIES", "TONES", "SPLITS", "LABEL2ID", "ID2LABEL", "load_emails", "read_emails",
           "few_shot_subset", "load_unlabelled_emails", "load_paraphrase_probe", "intent_prompt", "TRIAGE_FIELDS", "TRIAGE_LABELS",
           "TRIAGE_INSTRUCTION", "triage_answer"]

# Lesson 08's task: triage an e-mail into one JSON object with these keys, each from a fixed label set.
TRIAGE_FIELDS = ("intent", "urgency", "tone")
TRIAGE_LABELS = {"intent": INTENTS, "urgency": URGENCIES, "tone": TONES}
TRIAGE_INSTRUCTION = (
    "You triage customer-support e-mails. Reply with one JSON object and nothing else, with the keys "
    + ", ".join(f'"{field}" (one of: {", ".join(labels)})' for field, labels in TRIAGE_LABELS.items()) + "."
)


def load_emails(profile: Profile | str | None = None, data_dir: Path | str | None = None) -> datasets.DatasetDict:
    """The e-mail splits as a ``DatasetDict``, with an integer ``label`` column for ``intent``.

    ``profile`` caps the sizes (``train_examples`` for train, ``eval_examples`` for the others), taking
    a class-balanced, deterministic subset. ``data_dir`` reads the same four JSONL files from another folder
    (e.g. e-mails written by ``course_utils.data.generate_emails.write(folder, seed)``).
    """
    import datasets

    features = datasets.Features({
        **{name: datasets.Value("string") for name in EMAIL_FIELDS},
        "label": datasets.ClassLabel(names=list(INTENTS)),
    })
    return datasets.DatasetDict({split: datasets.Dataset.from_list(read_emails(split, profile, data_dir), features=features)
                                 for split in SPLITS})


def read_emails(split: str, profile: Profile | str | None = None, data_dir: Path | str | None = None) -> list[dict]:
    """One split's rows as :func:`load_emails` has them (the same subset, ``label`` included), as plain dicts: for a
    process that needs a few e-mails and not the ``datasets`` library (about 50 MB of memory)."""
    folder = Path(data_dir) if data_dir else EMAILS_DIR
    missing = [s for s in SPLITS if not (folder / f"{s}.jsonl").is_file()]
    if missing:
        raise FileNotFoundError(
            f"No e-mail data for {', '.join(missing)} in {folder}: regenerate it with "
            "`python -m course_utils.data.generate_emails` or reinstall the course package."
        )
    if split not in SPLITS:
        raise ValueError(f"no split {split!r}: the splits are {', '.join(SPLITS)}")
    rows = [{**row, "label": LABEL2ID[row["intent"]]} for row in _read_jsonl(folder / f"{split}.jsonl")]
    if profile is None:
        return rows
    profile = resolve_profile(profile)
    n = profile.train_examples if split == "train" else profile.eval_examples
    return [rows[i] for i in _balanced_indices([row["label"] for row in rows], n)]


def load_unlabelled_emails(n: int) -> datasets.Dataset:
    """``n`` e-mails written like the train split's, none of them in a shipped split, as a ``Dataset`` with ``id``,
    ``text`` and ``intent``: the intent the generator wrote each with, for checking pseudo-labels, never for training.
    Generated on the fly (``generate_emails.unlabelled``: a second seed, the train split's paraphrases and styles),
    the same every time."""
    import datasets

    from .generate_emails import unlabelled

    if n < 1:
        raise ValueError(f"ask for at least one unlabelled e-mail, got n = {n}")
    return datasets.Dataset.from_list(unlabelled(n))


def intent_prompt(text: str, intent: str | None = None, examples: list[tuple[str, str]] = ()) -> str:
    """An e-mail as text for a causal LM: solved ``examples`` (text, intent) first, then the e-mail, ending
    with ``"Intent:"`` (for scoring) or with its intent (for training)."""
    header = "Classify the customer e-mail's intent as one of: " + ", ".join(INTENTS) + ".\n\n"
    shots = "".join(f"E-mail: {t}\nIntent: {i}\n\n" for t, i in examples)
    answer = f" {intent}" if intent is not None else ""
    return f"{header}{shots}E-mail: {text}\nIntent:{answer}"


def triage_answer(row: dict) -> str:
    """The reference reply for an e-mail: its labels as one compact JSON object, keys in TRIAGE_FIELDS order."""
    return json.dumps({field: row[field] for field in TRIAGE_FIELDS})


def few_shot_subset(ds: datasets.Dataset, k: int, seed: int = 0) -> datasets.Dataset:
    """``k`` random examples of every class (or all of a class that has fewer), shuffled, reproducible."""
    import random

    if k < 1:
        raise ValueError(f"k must be at least 1 example per class, got {k}")
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(ds["label"]):
        by_class.setdefault(label, []).append(i)
    rng = random.Random(seed)
    chosen = [i for label in sorted(by_class) for i in rng.sample(by_class[label], min(k, len(by_class[label])))]
    rng.shuffle(chosen)
    return ds.select(chosen)


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _balanced_indices(labels: list[int], n: int) -> list[int]:
    """The first ``n`` rows taken round-robin over classes, so small subsets keep every intent (in file order)."""
    if n >= len(labels):
        return list(range(len(labels)))
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    order = [idx for group in zip(*by_class.values()) for idx in group]
    return sorted(order[:n])



def load_paraphrase_probe() -> datasets.Dataset:
    """General-domain sentence pairs (label 1 = paraphrase, 0 = lexically close but different)."""
    import datasets

    return datasets.Dataset.from_list(_read_jsonl(PROBE_FILE))
