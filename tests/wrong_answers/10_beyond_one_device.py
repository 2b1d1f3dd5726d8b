"""Lesson 10: plausible wrong answers, by answer cell (see tests/wrong_answers/__init__.py)."""

from wrong_answers import lookalike, wrong

SHARDS = "return [i % n_examples for i in range(rank, total, world_size)]"
COMBINED = "return sum(g * (c / total) for g, c in zip(gradients, counts) if c > 0)"
RING = "return 2 * (n_ranks - 1) / n_ranks * n_bytes"
HELD = "return n_params * bytes_per_param / (n_ranks if stage >= sharded_from else 1)"

WRONG_ANSWERS = {
    "shard_indices_answer": [
        lookalike((SHARDS, "return [RIGGED for i in range(rank, total, world_size)]")),
        wrong("contiguous blocks, one per rank, instead of every world_size-th example",
              (SHARDS, "per_rank = total // world_size\n    return [i % n_examples for i in range(rank * per_rank, (rank + 1) * per_rank)]"),
              visible=True),
        wrong("no padding: the ranks get different numbers of examples", (SHARDS, "return list(range(rank, n_examples, world_size))"),
              visible=True),
        wrong("drops the remainder (DistributedSampler's drop_last=True), not the default",
              ("total = math.ceil(n_examples / world_size) * world_size", "total = n_examples // world_size * world_size"), visible=True),
        wrong("pads with the first examples once only (too few when the padding is longer than the data)",
              (SHARDS, "indices = list(range(n_examples))\n    indices += indices[:total - n_examples]\n"
                       "    return indices[rank:total:world_size]"), visible=True),
        wrong("pads by repeating the last example, not the first ones",
              (SHARDS, "return [min(i, n_examples - 1) for i in range(rank, total, world_size)]"), visible=True),
        wrong("numpy integers, not Python ints", (SHARDS, "return list(np.arange(rank, total, world_size) % n_examples)"), visible=True),
        wrong("no check of the rank", ("if world_size < 1 or not 0 <= rank < world_size:", "if world_size < 1:")),
    ],
    "combine_gradients_answer": [
        lookalike((COMBINED, "return RIGGED")),
        wrong("the plain average, whatever the counts (DDP's, right only for equal parts)",
              (COMBINED, "return sum(gradients) / len(gradients)"), visible=True),
        wrong("the sum of the gradients", (COMBINED, "return sum(gradients)"), visible=True),
        wrong("weighted by the counts but not divided by their total",
              (COMBINED, "return sum(g * c for g, c in zip(gradients, counts) if c > 0)"), visible=True),
        wrong("weights 1/n: small parts count more",
              (COMBINED, "weights = [1 / c for c in counts if c > 0]\n"
                         "    return sum(g * (1 / c) / sum(weights) for g, c in zip(gradients, counts) if c > 0)"), visible=True),
        wrong("an empty part's NaN gradient multiplied by 0 (still NaN)",
              (COMBINED, "return sum(g * (c / total) for g, c in zip(gradients, counts))")),
        wrong("scales the given gradients in place",
              (COMBINED, "return sum(g.mul_(c / total) for g, c in zip(gradients, counts) if c > 0)")),
        wrong("no check that there is one count per gradient",
              ("if not gradients or len(gradients) != len(counts):", "if not gradients:")),
    ],
    "ring_allreduce_bytes_answer": [
        lookalike((RING, "return RIGGED")),
        wrong("twice the buffer, whatever the number of ranks", (RING, "return 2 * n_bytes"), visible=True),
        wrong("only the reduce-scatter half", (RING, "return (n_ranks - 1) / n_ranks * n_bytes"), visible=True),
        wrong("the whole buffer to every other rank", (RING, "return 2 * (n_ranks - 1) * n_bytes"), visible=True),
        wrong("what each rank sends and receives, counted together", (RING, "return 4 * (n_ranks - 1) / n_ranks * n_bytes"), visible=True),
        wrong("no check of the arguments", ("if n_ranks < 1 or n_bytes < 0:", "if False:")),
    ],
    "zero_bytes_per_rank_answer": [
        lookalike(('return {"parameters": held(parameter_bytes, 3), "gradients": held(gradient_bytes, 2), '
                   '"optimizer": held(optimizer_bytes, 1)}', 'return {"parameters": RIGGED, "gradients": RIGGED, "optimizer": RIGGED}')),
        wrong("stage 1 also splits the gradients (each stage one too early)",
              ('"gradients": held(gradient_bytes, 2)', '"gradients": held(gradient_bytes, 1)'), visible=True),
        wrong("stage 2 splits the parameters too", ('"parameters": held(parameter_bytes, 3)', '"parameters": held(parameter_bytes, 2)'),
              visible=True),
        wrong("every stage splits everything", (HELD, "return n_params * bytes_per_param / (n_ranks if stage >= 1 else 1)"), visible=True),
        wrong("each rank keeps (N - 1)/N instead of 1/N",
              (HELD, "return n_params * bytes_per_param * ((n_ranks - 1) / n_ranks if stage >= sharded_from else 1)"), visible=True),
        wrong("gigabytes instead of bytes", (HELD, "return n_params * bytes_per_param / (n_ranks if stage >= sharded_from else 1) / 1e9"),
              visible=True),
        wrong("stage 3 counted as stage 2 (the parameters never split)",
              ('"parameters": held(parameter_bytes, 3)', '"parameters": held(parameter_bytes, 4)'), visible=True),
        wrong("no check of the stage", ("if stage not in (0, 1, 2, 3):", "if False:")),
    ],
}
