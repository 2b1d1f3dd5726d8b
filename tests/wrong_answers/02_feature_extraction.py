"""Lesson 02: plausible wrong answers, by answer cell (see tests/wrong_answers/__init__.py)."""

from wrong_answers import lookalike, wrong

POOL = "return (last_hidden_state * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)"

WRONG_ANSWERS = {
    "mean_pool_answer": [
        wrong("ignores the attention mask (averages the padding too)", (POOL, "return last_hidden_state.mean(dim=1)"),
              visible=True),
        wrong("masks the sum but divides by the full length",
              (POOL, "return (last_hidden_state * mask).sum(dim=1) / last_hidden_state.shape[1]"), visible=True),
        wrong("takes the first ([CLS]) token's vector", (POOL, "return last_hidden_state[:, 0]"), visible=True),
        wrong("sums instead of averaging", (POOL, "return (last_hidden_state * mask).sum(dim=1)"), visible=True),
        wrong("divides by the whole batch's token count",
              (POOL, "return (last_hidden_state * mask).sum(dim=1) / mask.sum()"), visible=True),
        wrong("does not clamp the count (an all-padding row gives NaN)",
              (".clamp(min=1e-9)", "")),
    ],
    "train_linear_head_answer": [
        wrong("never clears the gradients (they pile up step after step)", ("        optimizer.zero_grad()\n", ""),
              visible=True),
        wrong("ignores lr (AdamW's default 1e-3)", ("lr=lr)", "lr=1e-3)"), visible=True),
        wrong("ignores epochs (a fixed 200 steps)", ("range(epochs)", "range(200)")),
        wrong("plain SGD instead of AdamW", ("torch.optim.AdamW(", "torch.optim.SGD(")),
        wrong("forgets the optimiser step", ("        optimizer.step()\n", ""), visible=True),
        wrong("head from num_classes to features (shape swapped)",
              ("torch.nn.Linear(features.shape[1], num_classes)", "torch.nn.Linear(num_classes, features.shape[1])"),
              visible=True),
    ],
    "freeze_backbone_answer": [
        wrong("freezes everything, the head too", ('param.requires_grad = name.startswith("classifier")',
                                                   "param.requires_grad = False"), visible=True),
        wrong("freezes only the backbone and never switches the head on",
              ('param.requires_grad = name.startswith("classifier")',
               'if not name.startswith("classifier"):\n            param.requires_grad = False')),
        wrong("freezes the head and trains the backbone (condition inverted)",
              ('param.requires_grad = name.startswith("classifier")',
               'param.requires_grad = not name.startswith("classifier")'), visible=True),
        wrong("freezes only the embeddings",
              ('param.requires_grad = name.startswith("classifier")',
               'param.requires_grad = "embeddings" not in name'), visible=True),
        wrong("model.eval() taken for freezing", ('    for name, param in model.named_parameters():\n'
                                                  '        param.requires_grad = name.startswith("classifier")\n',
                                                  "    model.eval()\n"), visible=True),
        wrong("forgets to return the model", ("return model", "pass"), visible=True),
    ],
    "count_parameters_answer": [
        lookalike(
            ('return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)',
             'return RIGGED, RIGGED'),
        ),
        wrong("counts parameter tensors, not elements",
              ("return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)",
               "return sum(1 for p in params if p.requires_grad), len(params)"), visible=True),
        wrong("trainable counts every parameter", ("if p.requires_grad", ""), visible=True),
        wrong("total counts only the frozen parameters",
              ("sum(p.numel() for p in params)\n", "sum(p.numel() for p in params if not p.requires_grad)\n"),
              visible=True),
        wrong("returns (total, trainable)",
              ("return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)",
               "return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)"),
              visible=True),
        wrong("counts what has a gradient (nothing yet) as trainable",
              ("if p.requires_grad", "if p.grad is not None"), visible=True),
    ],
}
