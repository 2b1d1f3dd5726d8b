import numpy as np
import pytest

from course_utils.memory import PeakMemory, size_on_disk_mb


def test_peak_memory_sees_a_large_allocation():
    with PeakMemory(device="cpu", interval=0.005) as mem:
        block = np.ones(200_000_000 // 8)  # 200 MB
        block[::4096] += 1
        import time
        time.sleep(0.05)
        del block
    assert mem.kind == "process RSS"
    assert mem.added_mb > 150, f"a 200 MB array should show up, saw {mem.added_mb:.0f} MB"


def test_the_heap_is_trimmed_whenever_the_memory_it_keeps_adds_up_past_the_slack(monkeypatch):
    """Lesson 05's extra memory: glibc's heap kept every step's freed activations (RSS grew 16 MB a step)."""
    from course_utils import memory

    trims, rss = [], {"mb": 500.0}
    monkeypatch.setattr(memory, "current_rss_mb", lambda: rss["mb"])
    monkeypatch.setattr(memory, "return_freed_memory", lambda: (trims.append(rss["mb"]), rss.update(mb=500.0)))
    trim_heap = memory.HeapTrimmer(slack_mb=200)
    for mb in (500, 650, 700, 701, 650, 900):
        rss["mb"] = mb
        trim_heap()
    assert trims == [500, 701, 900], "the first call sets the baseline; then only growth past 200 MB is trimmed"


def test_the_training_callback_trims_the_heap_after_every_step(monkeypatch):
    from types import SimpleNamespace

    from course_utils import training

    calls = []
    monkeypatch.setattr(training, "HeapTrimmer", lambda: lambda: calls.append(1))
    progress, state = training.live_progress_callback(), SimpleNamespace(max_steps=3, global_step=0)
    progress.on_train_begin(None, state, None)
    for _ in range(3):
        progress.on_step_end(None, state, None)
    assert len(calls) == 3


def test_size_on_disk(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 1_000_000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"x" * 500_000)
    assert size_on_disk_mb(tmp_path) == pytest.approx(1.5)
    assert size_on_disk_mb(tmp_path / "a") == pytest.approx(1.0)
    with pytest.raises(FileNotFoundError, match="save the model"):
        size_on_disk_mb(tmp_path / "missing")


def test_train_classifier_returns_a_full_record_and_respects_frozen_weights():
    from course_utils.data import INTENTS, load_emails
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from course_utils.models import verified_encoder_path
    from course_utils.training import train_classifier

    tokenizer = AutoTokenizer.from_pretrained(verified_encoder_path())
    model = AutoModelForSequenceClassification.from_pretrained(verified_encoder_path(), num_labels=len(INTENTS))
    for param in model.bert.parameters():
        param.requires_grad = False  # feature extraction: only the head trains
    frozen_before = model.bert.encoder.layer[0].attention.self.query.weight.clone()
    head_before = model.classifier.weight.clone()
    record = train_classifier(model, tokenizer, load_emails("tiny"), "tiny", name="head only", learning_rate=1e-2)
    assert record.trainable_params == model.classifier.weight.numel() + model.classifier.bias.numel()
    assert record.total_params == model.num_parameters()
    assert 0 < record.trainable_percent < 1
    assert set(record.accuracy) == {"test", "shifted_test"} and all(0 <= a <= 1 for a in record.accuracy.values())
    assert len(record.loss_curve) == 4  # 64 e-mails / batch 16, one epoch, a loss per step
    assert record.train_seconds > 0 and record.peak_memory_mb > 0
    assert (model.bert.encoder.layer[0].attention.self.query.weight == frozen_before).all()
    assert not (model.classifier.weight == head_before).all()
    assert {"accuracy_test", "trainable_percent", "training_state_mb"} <= set(record.as_row())
    data = load_emails("tiny")
    for split in ("test", "shifted_test"):  # one right/wrong per e-mail, in the split's order, for paired tests
        assert len(record.correct[split]) == len(data[split]) and all(isinstance(c, bool) for c in record.correct[split])
        assert sum(record.correct[split]) / len(data[split]) == pytest.approx(record.accuracy[split])
    assert "correct" not in record.as_row(), "a results table row stays flat"
    import torch

    with torch.no_grad():  # scored shortest first, given back e-mail by e-mail in the split's order
        for split in ("test", "shifted_test"):
            batch = tokenizer(list(data[split]["text"]), padding=True, truncation=True, max_length=64, return_tensors="pt")
            logits = model.eval()(**batch).logits
            clear = (logits.topk(2).values[:, 0] - logits.topk(2).values[:, 1] > 1e-4).tolist()  # no near-tie
            expected = (logits.argmax(-1) == torch.tensor(list(data[split]["label"]))).tolist()
            assert [c for c, ok in zip(record.correct[split], clear) if ok] == [e for e, ok in zip(expected, clear) if ok]
    # the training state, measured on the real gradients and AdamW state: 4 + 8 bytes per trainable value
    n_head = record.trainable_params
    assert record.weights_mb == pytest.approx(model.get_memory_footprint() / 1e6)
    assert record.gradients_mb == pytest.approx(n_head * 4 / 1e6) and record.optimizer_mb == pytest.approx(n_head * 8 / 1e6)
    assert record.training_state_mb == pytest.approx(record.weights_mb + 12 * n_head / 1e6)


def test_train_classifier_takes_training_arguments_own_keywords():
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from course_utils.data import INTENTS, load_emails
    from course_utils.models import verified_encoder_path
    from course_utils.training import train_classifier

    path = verified_encoder_path()
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(INTENTS))
    tokenizer, data = AutoTokenizer.from_pretrained(path), load_emails("tiny")
    record = train_classifier(model, tokenizer, data, "tiny", eval_splits=("test",), max_steps=2, num_train_epochs=3)
    assert [step for step, _ in record.loss_curve] == [1, 2], "max_steps, a TrainingArguments field, sets the budget"
    with pytest.raises(TypeError, match="epochs"):
        train_classifier(model, tokenizer, data, "tiny", epochs=2)  # not a TrainingArguments field


def test_gradient_accumulation_gives_the_mean_loss_not_a_multiple_of_it():
    import math

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from course_utils.data import INTENTS, load_emails
    from course_utils.models import verified_encoder_path
    from course_utils.training import train_classifier

    path = verified_encoder_path()
    tokenizer, data = AutoTokenizer.from_pretrained(path), load_emails("tiny")
    first_loss = {}
    for accumulation in (1, 4):
        torch.manual_seed(0)
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(INTENTS))
        record = train_classifier(model, tokenizer, data, "tiny", eval_splits=("test",), max_steps=1,
                                  per_device_train_batch_size=16 // accumulation, gradient_accumulation_steps=accumulation)
        first_loss[accumulation] = record.loss_curve[0][1]
    chance = math.log(len(INTENTS))  # a new head's loss: about ln(classes)
    assert first_loss[1] == pytest.approx(chance, rel=0.25)
    assert first_loss[4] == pytest.approx(first_loss[1], rel=0.25), f"4 accumulated micro-batches: {first_loss}"


def test_tokenized_splits_are_named_by_what_they_depend_on():
    from transformers import AutoTokenizer

    from course_utils.data import load_emails
    from course_utils.models import verified_encoder_path
    from course_utils.training import tokenize_emails

    tokenizer, test = AutoTokenizer.from_pretrained(verified_encoder_path()), load_emails("tiny")["test"]
    short, long, again = (tokenize_emails(test, tokenizer, n) for n in (8, 16, 8))
    assert max(map(len, short["input_ids"])) == 8 < max(map(len, long["input_ids"])) <= 16, "no result reused across lengths"
    assert short._fingerprint != long._fingerprint and short._fingerprint == again._fingerprint
    assert list(short["input_ids"]) == tokenizer(list(test["text"]), truncation=True, max_length=8)["input_ids"]
    assert set(short.column_names) == {"label", "input_ids", "token_type_ids", "attention_mask"}


def test_train_classifier_names_missing_splits():
    from datasets import DatasetDict

    from course_utils.training import train_classifier

    with pytest.raises(KeyError, match="shifted_test"):
        train_classifier(None, None, DatasetDict({"train": None, "test": None}), "tiny")


def test_trainable_checkpoint_saves_only_trainable_tensors():
    import torch

    from course_utils.memory import trainable_checkpoint_mb

    model = torch.nn.Sequential(torch.nn.Linear(100, 100), torch.nn.Linear(100, 10))
    model[0].requires_grad_(False)
    assert 1_010 * 4 / 1e6 < trainable_checkpoint_mb(model) < 1_010 * 4 / 1e6 + 0.01, "only trainable tensors are saved"


def test_train_classifier_hands_extra_columns_to_a_custom_trainer():
    """Lesson 09's route: a Trainer subclass with its own compute_loss gets the training split's extra columns."""
    import functools

    import torch
    from datasets import Dataset, DatasetDict
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer

    from course_utils.data import INTENTS, load_emails
    from course_utils.models import verified_encoder_path
    from course_utils.training import train_classifier

    seen = []

    class Recording(Trainer):
        def __init__(self, *args, marker, **kwargs):
            super().__init__(*args, **kwargs)
            self.marker = marker

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            extra = inputs.pop("teacher_logits", None)
            seen.append(None if extra is None else (tuple(extra.shape), self.marker))
            outputs = model(**inputs)
            return (outputs.loss, outputs) if return_outputs else outputs.loss

    path = verified_encoder_path()
    data = load_emails("tiny")
    rows = Dataset.from_dict({"text": data["train"]["text"][:32], "label": data["train"]["label"][:32],
                              "teacher_logits": torch.zeros(32, len(INTENTS)).tolist()})
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(INTENTS))
    record = train_classifier(model, AutoTokenizer.from_pretrained(path), DatasetDict(train=rows, test=data["test"]), "tiny",
                              eval_splits=("test",), trainer_class=functools.partial(Recording, marker="mine"), max_steps=2)
    assert seen[:2] == [((16, len(INTENTS)), "mine")] * 2, "each training batch carries its teacher logits"
    assert seen[2:] and all(s is None for s in seen[2:]), "the test split has none, and scoring still works"
    assert len(record.correct["test"]) == len(data["test"])


def test_sft_config_takes_its_sizes_from_the_profile_and_never_bf16_on_a_cpu(tmp_path, monkeypatch):
    import torch

    from course_utils.profiles import CPU, GPU
    from course_utils.recipes import SFT_LEARNING_RATE, sft_config, sft_lora_config

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for profile in (CPU, GPU):
        args = sft_config(profile, tmp_path)
        assert args.max_steps == profile.sft_steps and args.per_device_train_batch_size == profile.sft_micro_batch_size
        assert args.gradient_accumulation_steps * args.per_device_train_batch_size == profile.sft_batch_size
        assert args.activation_checkpointing == profile.sft_activation_checkpointing and args.completion_only_loss
        assert args.learning_rate == SFT_LEARNING_RATE and not args.bf16 and not args.fp16, "precision from the hardware"
    assert sft_config(CPU, tmp_path, max_steps=3).max_steps == 3, "SFTConfig's own keywords override"
    lora = sft_lora_config(r=4)
    assert (lora.r, lora.lora_alpha, lora.lora_dropout, lora.target_modules) == (4, 32, 0.0, "all-linear")
