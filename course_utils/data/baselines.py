"""Measure how hard the e-mail data is, and write the numbers into DATA_CARD.md.

    python -m course_utils.data.baselines            # about 4 minutes on 2 CPU cores

Three classifiers of ``intent``, trained on ``train`` and scored on ``test`` and ``shifted_test``:
TF-IDF + logistic regression (bag of words), a linear probe on frozen MiniLM mean-pooled embeddings,
and the MiniLM encoder fully fine-tuned under the ``cpu`` profile. The split statistics and the
results go between the ``<!-- generated -->`` markers of the data card and into ``baselines.json``.
"""

from __future__ import annotations

import json
import platform
import time
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasets import DatasetDict

from . import DATA_DIR, INTENTS, load_emails

CARD = DATA_DIR / "DATA_CARD.md"
RESULTS = DATA_DIR / "baselines.json"
START, END = "<!-- generated:start -->", "<!-- generated:end -->"
EVAL_SPLITS = ("test", "shifted_test")


def tfidf_baseline(data: DatasetDict) -> dict[str, float]:
    """Word and bigram TF-IDF features, multinomial logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                          LogisticRegression(C=10, max_iter=5000))
    model.fit(data["train"]["text"], data["train"]["label"])
    return {s: float(model.score(data[s]["text"], data[s]["label"])) for s in EVAL_SPLITS}


def frozen_probe_baseline(data: DatasetDict) -> dict[str, float]:
    """Sentence embeddings of the frozen bundled MiniLM (sentence-transformers' own pipeline), logistic regression on top."""
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression

    from ..models import verified_encoder_path

    encoder = SentenceTransformer(str(verified_encoder_path()), device="cpu")
    embed = lambda texts: encoder.encode(list(texts), batch_size=64)  # noqa: E731
    probe = LogisticRegression(C=10, max_iter=5000).fit(embed(data["train"]["text"]), data["train"]["label"])
    return {s: float(probe.score(embed(data[s]["text"]), data[s]["label"])) for s in EVAL_SPLITS}


def fine_tuned_baseline(data: DatasetDict) -> dict[str, float]:
    """Every weight of MiniLM plus a classification head, trained with the cpu profile's settings."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ..models import verified_encoder_path
    from ..training import train_classifier

    path = verified_encoder_path()
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(INTENTS))
    record = train_classifier(model, AutoTokenizer.from_pretrained(path), data, profile="cpu", name="full fine-tuning")
    return record.accuracy


def split_statistics(data: DatasetDict) -> str:
    """Markdown tables: sizes, intents, styles, and how many e-mails carry each difficulty."""
    lines = ["### Splits", "", "| split | e-mails | writer styles | with a secondary intent | mean words |",
             "|---|---|---|---|---|"]
    for split, ds in data.items():
        styles = ", ".join(f"{k} {v}" for k, v in sorted(Counter(ds["style"]).items()))
        secondary = sum(x is not None for x in ds["secondary_intent"])
        words = sum(len(t.split()) for t in ds["text"]) / len(ds)
        lines.append(f"| {split} | {len(ds)} | {styles} | {secondary} | {words:.0f} |")
    lines += ["", "### Labels (train)", "", "| intent | e-mails |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(Counter(data["train"]["intent"]).items())]
    for field in ("urgency", "tone"):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(Counter(data["train"][field]).items()))
        lines.append(f"\n`{field}` (train): {counts}")
    return "\n".join(lines)


def main() -> None:
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.set_seed(0)
    transformers.logging.set_verbosity_error()
    data = load_emails()
    results, seconds = {}, {}
    for name, fn in (("TF-IDF + logistic regression", tfidf_baseline),
                     ("frozen MiniLM + logistic regression", frozen_probe_baseline),
                     ("MiniLM fully fine-tuned (cpu profile)", fine_tuned_baseline)):
        start = time.perf_counter()
        results[name] = fn(data)
        seconds[name] = time.perf_counter() - start
        print(f"{name}: {results[name]} ({seconds[name]:.0f} s)", flush=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    table = ["### How hard is it? (intent accuracy, chance = 12.5%)", "",
             "| classifier | test | shifted_test | time (s) |", "|---|---|---|---|"]
    table += [f"| {name} | {acc['test']:.3f} | {acc['shifted_test']:.3f} | {seconds[name]:.0f} |"
              for name, acc in results.items()]
    table.append(f"\nMeasured by `python -m course_utils.data.baselines` on {platform.machine()} "
                 f"({platform.python_version()}, CPU); results also in `baselines.json`.")
    card = CARD.read_text()
    head, rest = card.split(START)
    _, tail = rest.split(END)
    CARD.write_text(f"{head}{START}\n{split_statistics(data)}\n\n" + "\n".join(table) + f"\n{END}{tail}")
    print(f"updated {CARD}")


if __name__ == "__main__":
    main()
