"""Lesson 04: plausible wrong answers, by answer cell (see tests/wrong_answers/__init__.py)."""

from wrong_answers import lookalike, wrong

WRONG_ANSWERS = {
    "lora_param_count_answer": [
        lookalike(('return r * (d_in + d_out)', 'return RIGGED')),
        wrong("counts a full r x r block too", ("return r * (d_in + d_out)", "return r * (d_in + d_out) + r * r"),
              visible=True),
        wrong("counts only one of the two matrices", ("return r * (d_in + d_out)", "return r * d_in")),
        wrong("no check on the rank", ("raise ValueError", "pass  #")),
    ],
    "lora_linear_answer": [
        wrong("dropout on the frozen path too",
              ("result = self.base_layer(x)", "x = self.lora_dropout(x)\n        result = self.base_layer(x)"), visible=True),
        wrong("scaling r / alpha", ("self.scaling = r, alpha, alpha / r", "self.scaling = r, alpha, r / alpha"),
              visible=True),
        wrong("B random, A zero (initialisations swapped)",
              ("torch.nn.init.zeros_(self.lora_B.weight)", "torch.nn.init.zeros_(self.lora_A.weight)")),
        wrong("base layer left trainable",
              ("param.requires_grad = False\n        self.r", "param.requires_grad = True\n        self.r"), visible=True),
        wrong("merge forgets the scaling",
              ("self.base_layer.weight.data += self.scaling * (", "self.base_layer.weight.data += ("), visible=True),
        wrong("merge adds twice when called twice",
              ("if not self.merged:\n            self.base_layer.weight.data +=", "if True:\n            self.base_layer.weight.data +=")),
        wrong("forward adds the update again after merging",
              ("        if self.merged:\n            return result\n", "")),
    ],
    "inject_lora_answer": [
        wrong("head left frozen", ("if name.startswith(\"classifier\"):\n            param.requires_grad = True", "pass")),
        wrong("everything left trainable", ("param.requires_grad = False\n    targets", "param.requires_grad = True\n    targets"),
              visible=True),
        wrong("wraps every Linear layer, whatever target_modules says",
              ("and name.split(\".\")[-1] in target_modules", ""), visible=True),
    ],
}
