"""Using a trained model without training it: sentence embeddings from an encoder, greedy replies from a chat model."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def encode_texts(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int = 128,
                 batch_size: int = 64,
                 pool: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
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


def generate_replies(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, conversations: list[list[dict]], max_new_tokens: int = 48,
                     batch_size: int = 8) -> tuple[list[str], list[float]]:
    """Greedy replies of a chat model to each conversation (a list of ``{"role", "content"}`` messages).

    Each conversation is rendered with the tokenizer's chat template and an open assistant turn; batches are
    left-padded, so every reply starts right after its prompt. Generation stops at the end-of-turn token
    (the model's EOS) or after ``max_new_tokens``. Returns the replies and, per conversation, the seconds its
    batch took divided by the batch's size.
    """
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
