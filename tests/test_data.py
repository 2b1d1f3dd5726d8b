import json

import pytest

from course_utils.data import (EMAILS_DIR, INTENTS, LABEL2ID, SPLITS, load_emails, load_paraphrase_probe, read_emails)
from course_utils.data import generate_emails as gen


@pytest.fixture(scope="module")
def emails():
    return load_emails()


def test_shipped_files_are_exactly_what_the_generator_writes(tmp_path):
    written = gen.write(tmp_path)
    for split, path in written.items():
        assert path.read_bytes() == (EMAILS_DIR / f"{split}.jsonl").read_bytes(), \
            f"{split}.jsonl drifted from the generator: run python -m course_utils.data.generate_emails"


def test_generator_is_deterministic_and_seed_dependent():
    assert gen.generate(7) == gen.generate(7)
    assert gen.generate(7)["train"] != gen.generate(8)["train"]


def test_schema_and_sizes(emails):
    assert tuple(emails) == SPLITS
    for split, ds in emails.items():
        assert len(ds) == gen.SPLIT_SIZES[split]
        assert set(ds.column_names) == {"id", "text", "intent", "urgency", "tone", "style", "secondary_intent", "label"}
        assert ds.features["label"].names == list(INTENTS)
        assert all(LABEL2ID[i] == label for i, label in zip(ds["intent"], ds["label"]))


def test_splits_are_disjoint(emails):
    ids = [set(ds["id"]) for ds in emails.values()]
    texts = {split: set(ds["text"]) for split, ds in emails.items()}
    assert sum(map(len, ids)) == len(set().union(*ids))
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert not texts[a] & texts[b], f"{a} and {b} share e-mail texts"


def test_shifted_split_has_an_unseen_style_and_phrasing(emails):
    assert set(emails["shifted_test"]["style"]) == {gen.SHIFTED_STYLE}
    assert gen.SHIFTED_STYLE not in set(emails["train"]["style"]) | set(emails["test"]["style"])
    train_text = " ".join(emails["train"]["text"])
    for templates in gen.TEMPLATES.values():
        for template in templates["shifted"]:
            fixed = template.split("{")[0].strip()
            if len(fixed) > 20:
                assert fixed not in train_text, f"shifted phrasing leaked into train: {fixed!r}"


def test_difficulty_features_are_present(emails):
    train = emails["train"]
    assert 0.15 < sum(x is not None for x in train["secondary_intent"]) / len(train) < 0.35
    assert set(train["style"]) == set(gen.TRAIN_STYLES)
    negations = [n.split("{")[0] for texts in gen.NEGATED.values() for n in texts]
    with_negation = sum(any(n in t for n in negations) for t in train["text"])
    assert with_negation / len(train) > 0.15


def test_label_noise_only_in_train_and_validation():
    rows = gen.generate()
    for split in SPLITS:
        noisy = [r for r in rows[split] if r["intent"] != gen.INTENTS[int(r["id"].split("-")[1]) % len(gen.INTENTS)]]
        if split in ("test", "shifted_test"):
            assert not noisy
        else:
            assert 0 < len(noisy) / len(rows[split]) < 2 * gen.LABEL_NOISE_RATE


def test_profile_subsets_are_balanced_and_deterministic():
    tiny = load_emails("tiny")
    assert len(tiny["train"]) == 64 and len(tiny["test"]) == 64
    counts = {i: tiny["train"]["intent"].count(i) for i in INTENTS}
    assert set(counts.values()) == {64 // len(INTENTS)}
    assert tiny["train"]["id"] == load_emails("tiny")["train"]["id"]


def test_missing_files_say_how_to_regenerate(tmp_path):
    with pytest.raises(FileNotFoundError, match="generate_emails"):
        load_emails(data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="generate_emails"):
        read_emails("train", data_dir=tmp_path)


def test_plain_rows_are_the_datasets_rows(emails):
    """Lesson 10's ranks read e-mails without the datasets library: the same rows, subset and labels."""
    for profile in ("tiny", "cpu", None):
        splits = load_emails(profile) if profile else emails
        for split in SPLITS:
            assert read_emails(split, profile) == splits[split].to_list(), f"{split} under {profile}"
    with pytest.raises(ValueError, match="the splits are train"):
        read_emails("training")




def test_probe_pairs_are_balanced():
    probe = load_paraphrase_probe()
    assert len(probe) == 80 and sum(probe["label"]) == 40
    assert all(a != b for a, b in zip(probe["sentence1"], probe["sentence2"]))


def test_data_card_reports_measured_baselines_that_show_the_data_is_not_trivial():
    from course_utils.data.baselines import CARD, RESULTS

    results = json.loads(RESULTS.read_text())
    tfidf = results["TF-IDF + logistic regression"]
    tuned = results["MiniLM fully fine-tuned (cpu profile)"]
    assert tfidf["test"] + 0.10 < tuned["test"], "TF-IDF must land clearly below a fine-tuned encoder"
    for name, acc in results.items():
        assert acc["shifted_test"] < acc["test"], f"{name}: the shifted split must be harder than test"
        assert f"{acc['test']:.3f}" in CARD.read_text(), "DATA_CARD.md is out of date with baselines.json"


def test_few_shot_subset_takes_k_per_class_reproducibly(emails):
    from course_utils.data import few_shot_subset

    subset = few_shot_subset(emails["train"], 3, seed=1)
    assert sorted(subset["label"]) == sorted(list(range(len(INTENTS))) * 3)
    assert subset["id"] == few_shot_subset(emails["train"], 3, seed=1)["id"]
    assert subset["id"] != few_shot_subset(emails["train"], 3, seed=2)["id"]
    assert len(few_shot_subset(emails["train"], 10_000)) == len(emails["train"]), "k larger than a class takes all of it"
    with pytest.raises(ValueError, match="at least 1"):
        few_shot_subset(emails["train"], 0)


def test_unlabelled_pool_is_new_text_from_the_train_distribution(emails):
    from course_utils.data import load_unlabelled_emails

    pool = load_unlabelled_emails(200)
    assert pool.column_names == ["id", "text", "intent"] and len(pool) == 200
    shipped = {text for split in SPLITS for text in emails[split]["text"]}
    assert not shipped & set(pool["text"]), "no pool e-mail may repeat an e-mail of a shipped split"
    assert len(set(pool["text"])) == 200, "the pool's e-mails are distinct"
    assert sorted(set(pool["intent"])) == sorted(INTENTS) and max(pool["intent"].count(i) for i in INTENTS) == 25
    assert pool["text"] == load_unlabelled_emails(200)["text"], "the same pool every time"
    assert load_unlabelled_emails(50)["text"] == pool["text"][:50], "a smaller pool is the start of a larger one"
    assert not any(text.startswith("Good afternoon.") for text in pool["text"]), "never the shifted split's rambling style"
    with pytest.raises(ValueError, match="at least one"):
        load_unlabelled_emails(0)
