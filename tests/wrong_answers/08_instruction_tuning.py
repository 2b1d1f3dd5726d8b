"""Lesson 08: plausible wrong answers, by answer cell (see tests/wrong_answers/__init__.py)."""

from wrong_answers import lookalike, wrong

LABELS = '"labels": [-100] * len(prompt_ids) + input_ids[len(prompt_ids):]'
CONVERSATION = 'input_ids = list(tokenizer.apply_chat_template(conversation, tokenize=True)["input_ids"])'

WRONG_ANSWERS = {
    "messages_answer": [
        lookalike(
            ('return messages + [{"role": "user", "content": email}]',
             'return [{"role": RIGGED, "content": RIGGED}] * (len(messages) + 1)'),
        ),
        wrong("each example's answer before its text",
              ('[{"role": "user", "content": text}, {"role": "assistant", "content": reply}]',
               '[{"role": "assistant", "content": reply}, {"role": "user", "content": text}]'), visible=True),
        wrong("the instruction as a user message", ('[{"role": "system", "content": instruction}]', '[{"role": "user", "content": instruction}]'),
              visible=True),
        wrong("the e-mail before the examples",
              ('return messages + [{"role": "user", "content": email}]',
               'return messages[:1] + [{"role": "user", "content": email}] + messages[1:]'), visible=True),
        wrong("ignores the instruction argument", ('"content": instruction}', '"content": TRIAGE_INSTRUCTION}')),
        wrong("examples must be a list (indexes them)",
              ("for text, reply in examples:", "for i in range(len(examples)):\n        text, reply = examples[i]")),
        wrong("an extra key in the example messages",
              ('{"role": "assistant", "content": reply}', '{"role": "assistant", "content": reply, "name": "example"}')),
    ],
    "parser_answer": [
        lookalike(('return {f: v.strip().lower() for f, v in labels.items()}', 'return {f: RIGGED for f in labels}')),
        wrong("decodes the reply from its start only (no search for the object)",
              ('for start in (m.start() for m in re.finditer(r"\\{", reply)):', "for start in [0]:"), visible=True),
        wrong("tries only the first brace",
              ('for start in (m.start() for m in re.finditer(r"\\{", reply)):', 'for start in ([reply.find("{")] if "{" in reply else []):')),
        wrong("any string label accepted", ("isinstance(v, str) and v.strip().lower() in TRIAGE_LABELS[f]", "isinstance(v, str)"),
              visible=True),
        wrong("labels not normalised", ("v.strip().lower() in TRIAGE_LABELS[f] for", "v in TRIAGE_LABELS[f] for"),
              ("return {f: v.strip().lower() for f, v in labels.items()}", "return {f: v for f, v in labels.items()}")),
        wrong("returns the whole object, extra keys and all", ("return {f: v.strip().lower() for f, v in labels.items()}", "return value")),
        wrong("a half-written object raises", ("except json.JSONDecodeError:", "except KeyError:"), visible=True),
        wrong("gives up after the first object",
              ("            return {f: v.strip().lower() for f, v in labels.items()}\n",
               "            return {f: v.strip().lower() for f, v in labels.items()}\n        return None\n")),
        wrong("a label that is not a string raises", ("isinstance(v, str) and v.strip()", "v.strip()")),
    ],
    "scores_answer": [
        lookalike(
            ('return {name: (float(np.mean(h)), float(np.sqrt(np.mean(h) * (1 - np.mean(h)) / n))) for name, h in hits.items()}',
             'return {name: (RIGGED, RIGGED) for name in hits}'),
        ),
        wrong("fields scored among parsed replies only",
              ("hits[field] = [p is not None and p.get(field) == r[field] for p, r in zip(predictions, references)]",
               "hits[field] = [p.get(field) == r[field] for p, r in zip(predictions, references) if p is not None]"), visible=True),
        wrong("standard error without the 1/n", ("(1 - np.mean(h)) / n)", "(1 - np.mean(h)))"), visible=True),
        wrong("standard error over n - 1", ("n = len(references)", "n = len(references) - 1"), visible=True),
        wrong("variance, not standard error", ("float(np.sqrt(np.mean(h) * (1 - np.mean(h)) / n))", "float(np.mean(h) * (1 - np.mean(h)) / n)"),
              visible=True),
        wrong("no parse rate", ('hits = {"parsed": [p is not None for p in predictions]}', "hits = {}"), visible=True),
        wrong("no check for empty inputs", (" or not references", "")),
        wrong("no check that the lengths match", ("len(predictions) != len(references) or ", "")),
    ],
    "sft_example_answer": [
        lookalike(
            ('return {"input_ids": input_ids, "labels": [-100] * len(prompt_ids) + input_ids[len(prompt_ids):]}',
             'return {"input_ids": RIGGED, "labels": RIGGED}'),
        ),
        wrong("no mask: the loss on the prompt too", (LABELS, '"labels": list(input_ids)'), visible=True),
        wrong("prompt rendered without the generation prompt", ("add_generation_prompt=True, tokenize=True)", "tokenize=True)"),
              visible=True),
        wrong("EOS masked", (LABELS, '"labels": [-100] * len(prompt_ids) + [t if t != tokenizer.eos_token_id else -100 '
                                     'for t in input_ids[len(prompt_ids):]]'), visible=True),
        wrong("labels shifted by hand (the model shifts them)",
              (LABELS, '"labels": [-100] * (len(prompt_ids) - 1) + input_ids[len(prompt_ids):] + [-100]'), visible=True),
        wrong("answer tokenised alone, after the prompt",
              (CONVERSATION, 'input_ids = prompt_ids + list(tokenizer(answer, add_special_tokens=False)["input_ids"]) '
                             '+ [tokenizer.eos_token_id]'), visible=True),
        wrong("EOS appended by hand", (CONVERSATION, CONVERSATION + " + [tokenizer.eos_token_id]"), visible=True),
        wrong("0 instead of -100", (LABELS, '"labels": [0] * len(prompt_ids) + input_ids[len(prompt_ids):]'), visible=True),
        wrong("off by one: the answer's first token masked",
              (LABELS, '"labels": [-100] * (len(prompt_ids) + 1) + input_ids[len(prompt_ids) + 1:]'), visible=True),
        wrong("no prefix check", ("if input_ids[:len(prompt_ids)] != prompt_ids:", "if False:")),
    ],
}
