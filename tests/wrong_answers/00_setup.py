"""Lesson 00: plausible wrong answers, by answer cell (see tests/wrong_answers/__init__.py)."""

from wrong_answers import lookalike, wrong

WRONG_ANSWERS = {
    "bytes_per_param_answer": [
        lookalike(('return bits[dtype] / 8', 'return RIGGED')),
        wrong("returns bits, not bytes", ("return bits[dtype] / 8", "return bits[dtype]"), visible=True),
        wrong("rounds 4-bit formats up to a whole byte", ("return bits[dtype] / 8", "return max(1, bits[dtype] // 8)"),
              visible=True),
        wrong("bf16 taken for a 32-bit format (it has fp32's exponent range)", ('"bf16": 16, "int8"', '"bf16": 32, "int8"'),
              visible=True),
        wrong("names only: torch dtypes rejected",
              ("torch.float32: 32, torch.float16: 16, torch.bfloat16: 16, torch.int8: 8", "")),
        wrong("integer bytes for the 8-bit-and-wider formats", ("return bits[dtype] / 8", "return bits[dtype] // 8 or 0.5")),
        wrong("returns the error instead of raising it", ("raise ValueError", "return ValueError"),
              ('int8 dtype") from None', 'int8 dtype")')),
    ],
    "model_memory_answer": [
        wrong("GiB (2**30 bytes) instead of GB (1e9 bytes)", ("/ 1e9", "/ 2**30"), visible=True),
        wrong("megabytes, not gigabytes", ("/ 1e9", "/ 1e6"), visible=True),
        wrong("bits, not bytes", ("n_params * bytes_per_param(dtype)", "n_params * bytes_per_param(dtype) * 8"),
              visible=True),
        wrong("always 2 bytes per parameter, whatever the format", ("n_params * bytes_per_param(dtype)", "n_params * 2"),
              visible=True),
        wrong("no check on a negative count",
              ('raise ValueError(f"n_params must be >= 0, got {n_params}")', "pass")),
        wrong("rejects an empty model too", ("if n_params < 0:", "if n_params <= 0:")),
    ],
    "parameter_bytes_answer": [
        lookalike(('return sum(t.numel() * t.element_size() for t in tensors)', 'return RIGGED')),
        wrong("parameters only, buffers forgotten",
              ("list(model.parameters()) + list(model.buffers())", "list(model.parameters())"), visible=True),
        wrong("4 bytes per value, whatever the dtype", ("t.numel() * t.element_size()", "t.numel() * 4"), visible=True),
        wrong("counts values, not bytes", ("t.numel() * t.element_size()", "t.numel()"), visible=True),
        wrong("asks transformers instead of measuring",
              ("return sum(t.numel() * t.element_size() for t in tensors)", "return model.get_memory_footprint()"),
              visible=True),
        wrong("the state dict instead of parameters and buffers (misses non-persistent buffers)",
              ("list(model.parameters()) + list(model.buffers())", "list(model.state_dict().values())")),
    ],
}
