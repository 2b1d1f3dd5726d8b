"""Real architectures without their weights: configs to build from, and the shapes memory estimates need.

``architecture_config(name)`` is a transformers config with each model's real ``config.json`` values, for
``AutoModel*.from_config(...)``: random weights, or the ``meta`` device to count a large model's parameters
without downloading or allocating it. :class:`ArchitectureShape` is what lesson 05's memory planner reads.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from transformers import PretrainedConfig

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


def architecture_config(name: str, **overrides) -> PretrainedConfig:
    """A transformers config for an architecture: ``"minilm"`` (the bundled encoder's) or one of ARCHITECTURES."""
    from transformers import AutoConfig, CONFIG_MAPPING

    from .models import verified_encoder_path

    if name == "minilm":
        config = AutoConfig.from_pretrained(verified_encoder_path())
        for key, value in overrides.items():
            setattr(config, key, value)
        return config
    if name not in ARCHITECTURES:
        raise ValueError(f"Unknown architecture {name!r}: use 'minilm' or one of {', '.join(ARCHITECTURES)}.")
    kwargs = {**ARCHITECTURES[name], **overrides}
    return CONFIG_MAPPING[kwargs.pop("model_type")](**kwargs)


def linear_layer_groups(model: torch.nn.Module) -> dict[str, list[tuple[int, int]]]:
    """Every ``nn.Linear`` in a model's repeated blocks, grouped by its path inside the block.

    For BERT: ``{"attention.self.query": [(384, 384)] * 6, ..., "output.dense": [(1536, 384)] * 6}``,
    each entry ``(in_features, out_features)``; layers outside the blocks (e.g. the head) are left out.
    """
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


def architecture_shape(config_or_name: PretrainedConfig | str, name: str | None = None) -> ArchitectureShape:
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
