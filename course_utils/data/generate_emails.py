"""Deterministic generator of the course's customer-support e-mail data set.

Run ``python -m course_utils.data.generate_emails`` to rewrite the shipped JSONL splits in
``course_utils/data/emails/``. The same seed always gives byte-identical files (a test checks this).
How the data is made, and what it cannot teach, is in ``course_utils/data/DATA_CARD.md``.

Each e-mail has a primary ``intent`` (8 classes), an ``urgency`` (low/medium/high), a ``tone``
(polite/neutral/frustrated), the writer ``style`` that produced it, and an optional
``secondary_intent`` mentioned in passing. What makes it harder than keyword matching:
intent is carried by paraphrases; other intents are mentioned as distractors or negated
("I don't want to cancel, but ..."); a second, minor request may follow; quoted earlier messages,
greetings, signatures and order numbers add noise; writer styles vary; a few percent of the
train/validation labels are replaced at random. ``test`` mixes held-out paraphrases into the
train pool; ``shifted_test`` uses a paraphrase pool and a writer style the train split never saw.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from .schema import INTENTS, SHIFTED_STYLE, SPLIT_SIZES, TONES, TRAIN_STYLES, URGENCIES

SEED = 2024
DATA_DIR = Path(__file__).resolve().parent / "emails"
LABEL_NOISE_RATE = 0.03  # train and validation only; test splits keep clean labels

PRODUCTS = (
    "blender", "rain jacket", "desk lamp", "pair of running shoes", "coffee grinder", "backpack",
    "phone case", "air fryer", "yoga mat", "wireless headphones", "kettle", "office chair",
    "set of bed sheets", "electric toothbrush", "water bottle", "winter coat",
)
PLANS = ("Premium plan", "monthly membership", "family subscription", "Pro account", "annual plan")
NAMES = ("Maria", "James", "Aisha", "Tom", "Li Wei", "Sofia", "Daniel", "Priya", "Lukas", "Emma",
         "Kwame", "Hannah", "Mateo", "Yuki", "Olga", "Samir")
SURNAMES = ("Garcia", "Smith", "Khan", "Novak", "Chen", "Rossi", "Okafor", "Patel", "Muller", "Brown")
EVENTS = ("trip", "wedding", "job interview", "birthday party", "conference", "camping weekend")

# Paraphrases per intent. "core" feeds train/validation (75% of it) and test (all of it); "shifted"
# is written in another register and appears only in shifted_test.
TEMPLATES: dict[str, dict[str, list[str]]] = {
    "refund_request": {
        "core": [
            "I sent the {product} back last week and would like my money returned.",
            "Could you put the {amount} back on my card? The {product} went back to you already.",
            "I'd like to be reimbursed for the {product}, it wasn't what I expected.",
            "The {product} is in its box and ready to go back; please credit the {amount} to me.",
            "I returned order {order} and I'm still waiting to see the money again.",
            "Please process a refund for the {product}, I have the return receipt.",
            "I no longer want the {product} and would like the purchase price paid back.",
            "How do I get my {amount} back for the {product} I sent back?",
            "The return for order {order} was delivered to your warehouse, so where is my reimbursement?",
            "I want a full refund on the {product}, it doesn't suit me.",
            "Your returns page says I'd get the money within five days and it has been two weeks.",
            "I'd prefer the money rather than store credit for the {product} I returned.",
        ],
        "shifted": [
            "My partner mailed the {product} back and we have seen nothing come back into the account yet.",
            "Is there any way the {amount} could find its way back to my bank, since you have the {product} again?",
            "Kindly reverse the payment for the {product}; it left my house in your return bag.",
            "What I am after is simply the cost of the {product} back in my pocket.",
            "The courier collected the {product} from me, yet the card statement still shows me out of pocket.",
        ],
    },
    "billing_problem": {
        "core": [
            "My card was charged twice for order {order}.",
            "There is a payment of {amount} on my statement that I don't recognise.",
            "I was billed {amount} but the price on your site was lower.",
            "The invoice for order {order} shows the wrong amount.",
            "You took {amount} from my account even though the order was never placed.",
            "Why am I being charged for the {plan} when I'm on the free tier?",
            "My bank shows two identical payments from your company on the same day.",
            "The discount code was accepted at checkout but the charge was the full price.",
            "I paid with a gift card and my credit card was also debited {amount}.",
            "The VAT on my invoice looks wrong, it was added twice.",
            "I got a bill for the {plan} this month that seems much higher than usual.",
            "Could you check the amount you debited? It doesn't match my receipt.",
        ],
        "shifted": [
            "Looking at my statement, the same sum of {amount} appears on two lines and I bought once.",
            "The figure my bank took does not match what the checkout page promised me.",
            "An unexpected deduction tagged with your company name turned up this morning.",
            "The total on the paperwork you emailed is not what I agreed to pay.",
            "I think your system debited me for the {plan} by mistake.",
        ],
    },
    "cancel_subscription": {
        "core": [
            "Please stop my {plan} from renewing.",
            "I'd like to end my {plan} at the end of this billing period.",
            "How do I close my {plan}? I can't find the option.",
            "I won't be needing the {plan} anymore, please terminate it.",
            "Don't renew my membership next month.",
            "I want to opt out of the {plan} and stop all future payments.",
            "Can you turn off auto-renewal on my account and end the plan?",
            "I'm moving abroad so I'd like to discontinue the {plan}.",
            "Please unsubscribe me from the {plan} effective immediately.",
            "We are switching to another provider, so end our {plan}.",
            "I tried to quit the {plan} in the app but it keeps sending me to the upgrade page.",
            "Terminate the {plan} on my account, I no longer use it.",
        ],
        "shifted": [
            "I have decided the {plan} is not for me any longer and wish to leave it.",
            "Going forward, I do not want to be a member; please wind the account down.",
            "Is it possible to bring my {plan} to a close before the next cycle?",
            "Our household has no more use for the {plan}, so we would like out.",
            "Let this be my notice that I am done with the {plan}.",
        ],
    },
    "delivery_status": {
        "core": [
            "Where is my order {order}? It was supposed to arrive on Monday.",
            "The tracking for order {order} hasn't updated in a week.",
            "My {product} still hasn't shown up and it's been ten days.",
            "Can you tell me when the {product} will be delivered?",
            "The courier says delivered but nothing came to my door.",
            "Order {order} seems to be stuck at the depot.",
            "I haven't received the {product} yet, is it lost?",
            "What is the expected delivery date for order {order}?",
            "The parcel with my {product} is late, the estimate passed yesterday.",
            "Has my {product} even been shipped yet? I ordered it two weeks ago.",
            "The tracking link for order {order} gives an error, where is the package?",
            "My neighbour didn't get my parcel either, so where did it go?",
        ],
        "shifted": [
            "The {product} I paid for has not turned up on my doorstep so far.",
            "Your website promised it by the weekend, but the box is nowhere to be seen.",
            "I keep checking the porch and there is still no sign of order {order}.",
            "Nobody can tell me whereabouts my {product} is on its journey to me.",
            "The status page has shown 'in transit' for so long that I doubt it is moving.",
        ],
    },
    "damaged_or_wrong_item": {
        "core": [
            "The {product} arrived broken.",
            "I ordered a {product} but you sent me something completely different.",
            "The box was crushed and the {product} inside is cracked.",
            "The {product} I received is the wrong size and colour.",
            "Half of the parts for the {product} are missing from the package.",
            "The {product} doesn't turn on at all straight out of the box.",
            "There is a big scratch across the {product} I just unpacked.",
            "You sent two left shoes instead of a pair.",
            "The {product} in order {order} is used, it has someone else's hair on it.",
            "The seal on the {product} was broken when it arrived.",
            "What I got is not the model shown on your website.",
            "The {product} leaked all over the inside of the parcel.",
        ],
        "shifted": [
            "When I opened the parcel the {product} was in pieces.",
            "This is not the item on my order confirmation at all, someone packed the wrong thing.",
            "The {product} came with a dent and a snapped handle.",
            "Opening order {order} revealed a {product} that has clearly been dropped.",
            "Whoever packed this put in a different {product} from the one I chose.",
        ],
    },
    "account_access": {
        "core": [
            "I can't log in to my account, it says my password is wrong.",
            "The password reset email never arrives.",
            "My account has been locked after too many attempts.",
            "I no longer have access to the email on my account, how do I sign in?",
            "The two-factor code isn't being sent to my phone.",
            "It says no account exists with my email, but I've ordered before.",
            "Someone may have changed my password, I can't get into my profile.",
            "I'm stuck on the sign-in page, it just reloads.",
            "How do I recover my account? I forgot which email I used.",
            "My login worked yesterday and today it's rejected.",
            "The verification link in the email says it has expired every time.",
            "I'm shut out of my profile and can't see my orders.",
        ],
        "shifted": [
            "Each time I type my details the site refuses to let me in.",
            "I seem to have lost my way back into my profile since changing phones.",
            "The site claims it does not know who I am, although I have bought from you for years.",
            "Could someone help me get back inside my account? The reset route goes nowhere.",
            "Your security check keeps turning me away at the door.",
        ],
    },
    "technical_issue": {
        "core": [
            "The app crashes every time I open the basket.",
            "Your website shows a blank page when I try to pay.",
            "The search function returns an error for every product.",
            "I can't upload a photo for my review, the button does nothing.",
            "The app keeps freezing on the loading screen after the update.",
            "Checkout gives me error 500 and nothing happens.",
            "Notifications from the app arrive hours late.",
            "The size filter on the website doesn't work on my phone.",
            "The page keeps logging me out when I add items to the basket.",
            "The mobile app won't scroll past the first few products.",
            "The order history page takes forever and then times out.",
            "Since the latest version the app closes itself when I tap on my wishlist.",
        ],
        "shifted": [
            "Something on your site seems to be malfunctioning; the screen goes grey and stops.",
            "The program on my tablet just shuts down by itself whenever I go to pay.",
            "Pressing the buy button does nothing at all, as if it is not connected to anything.",
            "After the newest update the application behaves strangely and nothing loads.",
            "Your web page throws a long message with numbers and refuses to continue.",
        ],
    },
    "change_order": {
        "core": [
            "Can I change the delivery address for order {order}? I'm moving.",
            "I'd like to swap the {product} in my order for a different colour before it ships.",
            "Please add a second {product} to order {order} if it hasn't been packed.",
            "I picked the wrong size, can you update the order before dispatch?",
            "Is it possible to switch my order to express shipping?",
            "Please remove the {product} from order {order}, I only want the rest.",
            "I need to update the phone number on my order for the courier.",
            "Could you hold order {order} and ship it next week instead?",
            "I'd like to change the payment method on my pending order.",
            "Can you send order {order} to my office instead of my home?",
            "I made a mistake in the house number on order {order}, please fix it before it goes out.",
            "Please combine my two open orders into one shipment.",
        ],
        "shifted": [
            "Before anything leaves your warehouse, I would like the {product} in blue rather than black.",
            "The flat number I typed is wrong; could the parcel go to number 12 instead?",
            "Would you be able to amend what I bought so that it includes one more {product}?",
            "Rather than my home, order {order} should now travel to my parents' place.",
            "I would like the quantity on my pending purchase reduced by one.",
        ],
    },
}

# Short mentions of another intent for a minor second request, and negated distractors.
SECONDARY = {
    "refund_request": "Also, once that's sorted, I'd like the money back for the {product} I returned.",
    "billing_problem": "Separately, I think I was charged twice last month.",
    "cancel_subscription": "And while you're at it, please end my {plan}.",
    "delivery_status": "Also, my other order {order} hasn't arrived yet.",
    "damaged_or_wrong_item": "P.S. the {product} from my last order came with a crack in it.",
    "account_access": "Also I can't log in on my laptop, only on my phone.",
    "technical_issue": "Side note: your app crashes when I open my wishlist.",
    "change_order": "One more thing: can the next order go to my work address?",
}
NEGATED = {
    "refund_request": ["I'm not asking for a refund.", "I don't want my money back."],
    "billing_problem": ["The payment itself was fine.", "This isn't about the charge, that was correct."],
    "cancel_subscription": ["I don't want to cancel my {plan}.", "I'm not planning to quit the {plan}."],
    "delivery_status": ["The parcel arrived on time.", "Delivery was quick, no issue there."],
    "damaged_or_wrong_item": ["The {product} itself is fine.", "Nothing was broken."],
    "account_access": ["I can log in without a problem.", "My account works fine."],
    "technical_issue": ["The app works fine.", "The website itself is working."],
    "change_order": ["I don't need to change anything in the order.", "The address is correct."],
}
# Which negated distractor is plausible next to which intent ("I don't want to cancel, but ...").
DISTRACTOR_PAIRS = {
    "refund_request": ("damaged_or_wrong_item", "billing_problem", "cancel_subscription"),
    "billing_problem": ("cancel_subscription", "refund_request", "account_access"),
    "cancel_subscription": ("billing_problem", "technical_issue", "refund_request"),
    "delivery_status": ("refund_request", "change_order", "cancel_subscription"),
    "damaged_or_wrong_item": ("refund_request", "delivery_status", "billing_problem"),
    "account_access": ("technical_issue", "billing_problem", "cancel_subscription"),
    "technical_issue": ("account_access", "cancel_subscription", "refund_request"),
    "change_order": ("delivery_status", "cancel_subscription", "refund_request"),
}

URGENCY_PHRASES = {
    "low": ["No rush on this.", "Whenever you get a chance.", "It's not urgent.", "",
            "Just letting you know, take your time."],
    "medium": ["Could you look into it this week?", "I'd appreciate a reply in the next few days.",
               "Please get back to me soon.", "I'd like this sorted before the weekend."],
    "high": ["I need this fixed today.", "This is urgent.", "Please reply as soon as possible, it can't wait.",
             "I have a {event} tomorrow and need this resolved before then.",
             "I need an answer within the hour."],
}
TONE_PHRASES = {
    "polite": ["Thank you so much for your help!", "I really appreciate it.",
               "Thanks in advance, you've always been great.", "Many thanks for your patience."],
    "neutral": ["", "Thanks.", "Let me know."],
    "frustrated": ["This is the third time I'm writing about this.", "Honestly, this is unacceptable.",
                   "I'm really disappointed with how this has been handled.",
                   "I'm fed up with waiting for an answer.", "Nobody has replied to my last two emails."],
}
QUOTED = [
    "> On {day}, Support wrote:\n> Thank you for contacting us. Your ticket has been closed.",
    "> On {day}, Support wrote:\n> We're sorry for the delay with your parcel. It should arrive soon.",
    "> On {day}, Support wrote:\n> Your refund request has been received and will be reviewed.",
    "> On {day}, Support wrote:\n> To reset your password, click the link we sent you.",
]
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "12 March", "3 June")

TYPO_SWAPS = {"you": "u", "your": "ur", "please": "pls", "thanks": "thx", "because": "cuz",
              "really": "rly", "tomorrow": "tmrw", "today": "2day", "want": "wanna", "going to": "gonna"}


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        product=rng.choice(PRODUCTS), plan=rng.choice(PLANS), event=rng.choice(EVENTS),
        amount=f"£{rng.randint(8, 240)}.{rng.choice(['00', '99', '50', '49'])}",
        order=f"#{rng.randint(100000, 999999)}",
    )


def _typos(text: str, rng: random.Random) -> str:
    for word, slang in TYPO_SWAPS.items():
        if rng.random() < 0.7:
            text = re.sub(rf"\b{word}\b", slang, text, flags=re.IGNORECASE)
    chars = list(text.lower() if rng.random() < 0.6 else text)
    for _ in range(max(1, len(chars) // 40)):
        i = rng.randrange(1, len(chars) - 1)
        if chars[i].isalpha() and chars[i + 1].isalpha():
            if rng.random() < 0.5:
                chars[i], chars[i + 1] = chars[i + 1], chars[i]
            else:
                del chars[i]
    return "".join(chars).replace(".", rng.choice(["", " ", "..", "."]), 2)


def _non_native(text: str, rng: random.Random) -> str:
    text = re.sub(r"\b(the|a) ", lambda m: "" if rng.random() < 0.5 else m.group(0), text)
    swaps = [("I'd like", "I would like that"), ("I can't", "I am not able"), ("I don't", "I am not"),
             ("hasn't", "is not"), ("It's", "Is"), ("Could you", "Please you can"), ("Can you", "You can")]
    for old, new in swaps:
        if rng.random() < 0.6:
            text = text.replace(old, new)
    return text


def _compose(rng: random.Random, intent: str, urgency: str, tone: str, style: str,
             core_pool: list[str], secondary: str | None) -> str:
    body = [_fill(rng.choice(core_pool), rng)]
    if rng.random() < 0.35:  # a second sentence restating the request in other words
        body.append(_fill(rng.choice(core_pool), rng))
    if rng.random() < 0.3:  # negated distractor about another intent, placed first
        other = rng.choice(DISTRACTOR_PAIRS[intent])
        body.insert(0, _fill(rng.choice(NEGATED[other]), rng) + " But")
        body[0:2] = [body[0] + " " + body[1][0].lower() + body[1][1:]]
    if secondary:
        body.append(_fill(SECONDARY[secondary], rng))
    urgency_line = _fill(rng.choice(URGENCY_PHRASES[urgency]), rng)
    tone_line = rng.choice(TONE_PHRASES[tone])
    name = f"{rng.choice(NAMES)} {rng.choice(SURNAMES)}"

    if style == "terse":
        parts = [body[0].rstrip("."), urgency_line, tone_line if tone == "frustrated" else ""]
        text = ". ".join(p.rstrip(".") for p in parts if p) + "."
    elif style == "formal":
        text = "\n\n".join(filter(None, [
            "Dear Customer Support Team,", "I am writing regarding my recent purchase.",
            " ".join(body), " ".join(filter(None, [urgency_line, tone_line])),
            f"Kind regards,\n{name}"]))
    elif style == "casual":
        greet = rng.choice(["hey there,", "hi!", "hello,", "hiya"])
        text = f"{greet}\n" + " ".join(body + [urgency_line, tone_line]) + f"\n{name.split()[0]}"
    elif style == "typos_slang":
        text = _typos(" ".join(body + [urgency_line, tone_line]), rng)
    elif style == "non_native":
        text = "Hello Sir/Madam,\n" + _non_native(" ".join(body + [urgency_line, tone_line]), rng) \
            + f"\nBest regards, {name}"
    elif style == SHIFTED_STYLE:
        story = rng.choice([
            "So I have to tell you the whole story, because it has been quite a week.",
            "I hope you are well, I know you must get hundreds of these messages every day.",
            "My daughter usually deals with these things but she is away, so here I am.",
        ])
        aside = rng.choice([
            "Anyway, as I was saying,", "Where was I? Oh yes,", "To cut a long story short,",
        ])
        body[0] = body[0][0].lower() + body[0][1:]
        text = " ".join([f"Good afternoon. {story}", aside] + body + [
            urgency_line, tone_line, "I do hope this makes sense.", f"All the best, {name}"])
    else:
        raise ValueError(f"unknown writer style {style!r}")
    if rng.random() < 0.15:
        text += "\n\n" + rng.choice(QUOTED).format(day=rng.choice(DAYS))
    if rng.random() < 0.2:
        text = f"Re: order {_fill('{order}', rng)}\n" + text
    return re.sub(r"[ \t]+", " ", text).strip()


def _template_pools(rng: random.Random) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Split each intent's core paraphrases: 75% seen in train, the rest only in test."""
    seen, held_out = {}, {}
    for intent in INTENTS:
        core = list(TEMPLATES[intent]["core"])
        rng.shuffle(core)
        cut = round(0.75 * len(core))
        seen[intent], held_out[intent] = core[:cut], core[cut:]
    return seen, held_out


def generate(seed: int = SEED) -> dict[str, list[dict]]:
    """Return the four splits as lists of records; pure and deterministic for a given seed."""
    rng = random.Random(seed)
    seen, held_out = _template_pools(rng)
    splits: dict[str, list[dict]] = {}
    used_texts: set[str] = set()
    for split, size in SPLIT_SIZES.items():
        rows = []
        for i in range(size):
            intent = INTENTS[i % len(INTENTS)]
            if split == "shifted_test":
                pool, style = TEMPLATES[intent]["shifted"], SHIFTED_STYLE
            elif split == "test":
                pool = held_out[intent] if rng.random() < 0.5 else seen[intent]
                style = rng.choice(TRAIN_STYLES)
            else:
                pool, style = seen[intent], rng.choice(TRAIN_STYLES)
            urgency = rng.choices(URGENCIES, weights=(0.4, 0.35, 0.25))[0]
            tone = rng.choices(TONES, weights=(0.3, 0.4, 0.3))[0]
            secondary = rng.choice([x for x in INTENTS if x != intent]) if rng.random() < 0.25 else None
            text = _compose(rng, intent, urgency, tone, style, pool, secondary)
            while text in used_texts:  # short terse e-mails can repeat; splits must not share a text
                text = _compose(rng, intent, urgency, tone, style, pool, secondary)
            used_texts.add(text)
            label = intent
            if split in ("train", "validation") and rng.random() < LABEL_NOISE_RATE:
                label = rng.choice([x for x in INTENTS if x != intent])
            rows.append({"id": f"{split}-{i:04d}", "text": text, "intent": label, "urgency": urgency,
                         "tone": tone, "style": style, "secondary_intent": secondary})
        rng.shuffle(rows)
        splits[split] = rows
    return splits


def unlabelled(n: int, seed: int = SEED + 1) -> list[dict]:
    """``n`` more e-mails from the train split's distribution (its paraphrase pool, its writer styles, the same
    mix of urgency, tone and second intents), none of them equal to an e-mail of the shipped splits: the pool of
    unlabelled e-mails a support team has far more of than labelled ones (lesson 09). Each record keeps the intent
    it was written with (``intent``), so a lesson can check what a teacher's pseudo-labels got right; nothing
    trains on it. Deterministic for a given ``n`` and ``seed``, and the first ``n`` of a larger pool."""
    seen, _ = _template_pools(random.Random(SEED))  # the paraphrases generate() gave the train split
    shipped = {row["text"] for rows in generate(SEED).values() for row in rows}
    rng = random.Random(seed)
    rows = []
    while len(rows) < n:
        intent = INTENTS[len(rows) % len(INTENTS)]
        urgency = rng.choices(URGENCIES, weights=(0.4, 0.35, 0.25))[0]
        tone = rng.choices(TONES, weights=(0.3, 0.4, 0.3))[0]
        secondary = rng.choice([x for x in INTENTS if x != intent]) if rng.random() < 0.25 else None
        text = _compose(rng, intent, urgency, tone, rng.choice(TRAIN_STYLES), seen[intent], secondary)
        if text not in shipped:
            shipped.add(text)
            rows.append({"id": f"unlabelled-{len(rows):05d}", "text": text, "intent": intent})
    return rows


def write(out_dir: Path = DATA_DIR, seed: int = SEED) -> dict[str, Path]:
    """Write each split as ``<split>.jsonl`` and return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, rows in generate(seed).items():
        path = out_dir / f"{split}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        paths[split] = path
    return paths


if __name__ == "__main__":
    for split, path in write().items():
        print(f"{split:>13}: {path}")
