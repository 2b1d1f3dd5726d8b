"""Lesson 03: plausible wrong answers, by answer cell (see tests/wrong_answers/__init__.py)."""

from wrong_answers import lookalike, wrong

WRONG_ANSWERS = {
    "training_step_answer": [
        wrong("never clears the gradients", ("    optimizer.zero_grad()\n", ""), visible=True),
        wrong("clears the gradients before the step (the step then has nothing to apply)",
              ("    loss.backward()\n    optimizer.step()\n    optimizer.zero_grad()\n",
               "    loss.backward()\n    optimizer.zero_grad()\n    optimizer.step()\n"), visible=True),
        wrong("forgets the optimiser step", ("    optimizer.step()\n", ""), visible=True),
        wrong("returns the loss tensor, not a float", ("return loss.item()", "return loss"), visible=True),
        wrong("leaves the model in evaluation mode (no model.train())", ("    model.train()\n", ""), visible=True),
        wrong("switches gradients on for every weight, unfreezing the backbone",
              ("    model.train()\n", "    model.train()\n    model.requires_grad_(True)\n")),
        wrong("steps under torch.no_grad() (no backward pass possible)",
              ("    loss = model(**batch).loss\n    loss.backward()\n",
               "    with torch.no_grad():\n        loss = model(**batch).loss\n"
               "    if loss.requires_grad:\n        loss.backward()\n")),
    ],
    "evaluate_accuracy_answer": [
        wrong("averages per-batch accuracies (counts batches, not examples)",
              ("            total += len(batch[\"labels\"])\n", "            total += 1\n"),
              ("correct += (logits.argmax(dim=-1) == batch[\"labels\"]).sum().item()",
               "correct += (logits.argmax(dim=-1) == batch[\"labels\"]).float().mean().item()"), visible=True),
        wrong("forgets model.eval() (dropout stays on)", ("    model.eval()\n", ""), visible=True),
        wrong("no torch.no_grad() (pays for a graph it never uses)",
              ("    with torch.no_grad():\n        for batch in batches:",
               "    if True:\n        for batch in batches:"),
              visible=True),
        wrong("returns the count of correct predictions", ("return correct / total", "return correct"), visible=True),
        wrong("keeps tensors (no .item()): returns a tensor, not a float",
              ("(logits.argmax(dim=-1) == batch[\"labels\"]).sum().item()",
               "(logits.argmax(dim=-1) == batch[\"labels\"]).sum()")),
        wrong("only scores the last batch",
              ("    correct = total = 0\n    with torch.no_grad():\n        for batch in batches:\n",
               "    with torch.no_grad():\n        for batch in batches:\n            correct = total = 0\n"),
              visible=True),
    ],
    "adamw_memory_answer": [
        lookalike(
            ('return {"weights": 4 * (n_trainable + n_frozen), "gradients": 4 * n_trainable, "optimizer": 8 * n_trainable}',
             'return {"weights": RIGGED, "gradients": RIGGED, "optimizer": RIGGED}'),
        ),
        wrong("one optimiser state (4 bytes), not AdamW's two",
              ('"optimizer": 8 * n_trainable', '"optimizer": 4 * n_trainable'),
              visible=True),
        wrong("optimiser states for the frozen parameters too",
              ('"optimizer": 8 * n_trainable', '"optimizer": 8 * (n_trainable + n_frozen)'), visible=True),
        wrong("gradients for the frozen parameters too",
              ('"gradients": 4 * n_trainable', '"gradients": 4 * (n_trainable + n_frozen)'), visible=True),
        wrong("weights of the trainable parameters only",
              ('"weights": 4 * (n_trainable + n_frozen)', '"weights": 4 * n_trainable'), visible=True),
        wrong("counts an fp32 master copy too (12 bytes of optimiser state in fp32 training)",
              ('"optimizer": 8 * n_trainable', '"optimizer": 12 * n_trainable'), visible=True),
        wrong("no check on negative counts", ('raise ValueError("parameter counts must be >= 0")', "pass")),
    ],
}
