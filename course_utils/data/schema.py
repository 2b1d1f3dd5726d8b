"""The e-mail data's schema: splits, label sets and writer styles (shared by the generator and the loader)."""

SPLIT_SIZES = {"train": 500, "validation": 200, "test": 400, "shifted_test": 400}
TRAIN_STYLES = ("formal", "casual", "terse", "typos_slang", "non_native")
SHIFTED_STYLE = "rambling"
INTENTS = (
    "refund_request",
    "billing_problem",
    "cancel_subscription",
    "delivery_status",
    "damaged_or_wrong_item",
    "account_access",
    "technical_issue",
    "change_order",
)
URGENCIES = ("low", "medium", "high")
TONES = ("polite", "neutral", "frustrated")
