"""Write the bundled example datasets under advisor/examples/ (deterministic: fixed seed).

The examples let a first-time user try the advisor at once. They are generated here from small
hand-written vocabularies, not copied from any published dataset, so they ship freely with the
package. Each covers a different task type and file format:

- ``sentiment_reviews.csv``: product reviews -> ``positive``/``negative`` (input column + template + target).
- ``restaurant_json.jsonl``: a restaurant description -> its attributes as a JSON object (structured
  generation; prompt/completion columns).
- ``support_tickets.parquet``: a support ticket (subject + body) -> one of five queues (input columns + template).
- ``word_problems.json``: arithmetic word problems -> the numeric answer (math; prompt/completion columns).

Usage::

    python scripts/make_examples.py            # rewrites advisor/examples/
    python scripts/make_examples.py --check    # exits 1 if the shipped files differ from a fresh build
"""
from __future__ import annotations

import argparse
import io
import json
import random
import sys
from pathlib import Path

import pandas as pd

SEED = 20240517
OUT_DIR = Path(__file__).resolve().parents[1] / "advisor" / "examples"

# ----------------------------------------------------------------------------- sentiment reviews
_PRODUCTS = ["blender", "headphones", "backpack", "desk lamp", "coffee grinder", "running shoes", "phone case",
             "water bottle", "keyboard", "tent", "air fryer", "office chair", "electric kettle", "yoga mat"]
_POSITIVE = ["works perfectly", "exceeded my expectations", "is sturdy and well made", "was easy to set up",
             "is worth every penny", "arrived quickly and works great", "feels premium", "is quiet and powerful",
             "has held up for months", "does exactly what it promises"]
_NEGATIVE = ["stopped working after a week", "feels cheap", "was missing parts", "is far too loud",
             "broke the first time I used it", "is not worth the price", "arrived damaged",
             "does not match the description", "overheats quickly", "fell apart within days"]
_POS_EXTRA = ["I would buy it again.", "Highly recommended.", "My whole family loves it.", "Five stars.",
              "Great value for money.", ""]
_NEG_EXTRA = ["I am returning it.", "Avoid this one.", "Customer service did not help.", "One star.",
              "Very disappointed.", ""]
_OPENERS = ["Honestly, the", "The", "This", "My new", "Our", "Bought this"]


def make_sentiment(rng: random.Random, n: int = 600) -> pd.DataFrame:
    rows = []
    for _ in range(n):
        positive = rng.random() < 0.55
        opener = rng.choice(_OPENERS)
        product = rng.choice(_PRODUCTS)
        phrase = rng.choice(_POSITIVE if positive else _NEGATIVE)
        if opener == "Bought this":
            text = f"Bought this {product} last month and it {phrase}."
        else:
            text = f"{opener} {product} {phrase}."
        if rng.random() < 0.4:  # a mixed second clause makes some reviews harder
            text += " " + rng.choice(_NEGATIVE if positive else _POSITIVE).capitalize() + " at first, though."
        extra = rng.choice(_POS_EXTRA if positive else _NEG_EXTRA)
        rows.append({"review": f"{text} {extra}".strip(), "label": "positive" if positive else "negative"})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- structured generation
_NAMES = ["The Golden Fork", "Blue Harbor", "Casa Verde", "The Copper Pot", "Sakura House", "Little Olive",
          "Red Lantern", "The Hungry Fox", "Maple & Rye", "Spice Route", "Northside Diner", "Le Petit Jardin"]
_CUISINES = ["Italian", "Japanese", "Mexican", "Indian", "French", "Thai", "Greek", "American", "Korean"]
_AREAS = ["city centre", "riverside", "old town", "university district", "harbour front"]
_PRICES = {"cheap": "inexpensive", "moderate": "moderately priced", "expensive": "pricey"}


def make_structured(rng: random.Random, n: int = 400) -> list[dict[str, str]]:
    rows = []
    for _ in range(n):
        record = {
            "name": rng.choice(_NAMES),
            "cuisine": rng.choice(_CUISINES),
            "area": rng.choice(_AREAS),
            "price": rng.choice(list(_PRICES)),
            "rating": rng.choice([1, 2, 3, 4, 5]),
            "family_friendly": rng.random() < 0.5,
        }
        family = "welcomes families" if record["family_friendly"] else "is not really suited to children"
        templates = [
            "{name} is a {price_word} {cuisine} restaurant in the {area}. Guests rate it {rating} out of 5 and it {family}.",
            "In the {area} you will find {name}, serving {cuisine} food. It is {price_word}, {family}, and has a rating of {rating}/5.",
            "Rated {rating} stars, {name} offers {cuisine} dishes in the {area}; it is {price_word} and {family}.",
        ]
        text = rng.choice(templates).format(price_word=_PRICES[record["price"]], family=family, **record)
        prompt = ("Extract the restaurant's attributes as a JSON object with the keys name, cuisine, area, price, "
                  f"rating and family_friendly.\n\nDescription: {text}\n\nJSON:")
        rows.append({"prompt": prompt, "completion": json.dumps(record, sort_keys=True)})
    return rows


# ----------------------------------------------------------------------------- support tickets
_QUEUES = {
    "billing": (["Charged twice", "Refund request", "Invoice question", "Wrong amount billed"],
                ["I was charged twice for my subscription this month.", "Please refund my last payment.",
                 "The invoice shows a different amount than my plan.", "Why did my bill go up without notice?"]),
    "technical": (["App crashes", "Cannot sync", "Error on login page", "Slow performance"],
                  ["The app closes as soon as I open the settings screen.", "My files stopped syncing yesterday.",
                   "I get error 500 when I try to open the dashboard.", "Everything takes a minute to load."]),
    "account": (["Reset password", "Change email", "Delete my account", "Two-factor problem"],
                ["I forgot my password and the reset link expired.", "I need to change the email on my account.",
                 "Please close my account and remove my data.", "I lost the phone with my authenticator app."]),
    "shipping": (["Package not arrived", "Wrong address", "Damaged delivery", "Tracking not updating"],
                 ["My order was due last week and has not arrived.", "I entered the wrong delivery address.",
                  "The box arrived crushed and the item is broken.", "The tracking number shows no updates."]),
    "feedback": (["Feature idea", "Great support", "Suggestion", "Compliment"],
                 ["It would be great to export reports as PDF.", "Thanks to your team for the quick help!",
                  "Could you add a dark mode to the app?", "I love the new design of the dashboard."]),
}
_SIGNOFFS = ["Thanks.", "Regards, Sam", "Please help asap.", "Best, Alex", "", "Thank you in advance."]


def make_tickets(rng: random.Random, n: int = 500) -> pd.DataFrame:
    rows = []
    queues = list(_QUEUES)
    for i in range(n):
        queue = rng.choice(queues)
        subjects, bodies = _QUEUES[queue]
        body = rng.choice(bodies)
        if rng.random() < 0.5:
            body += f" Order number {rng.randint(10000, 99999)}."
        body = f"{body} {rng.choice(_SIGNOFFS)}".strip()
        rows.append({"ticket_id": i + 1, "subject": rng.choice(subjects), "body": body, "queue": queue})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- word problems
_PEOPLE = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo"]
_ITEMS = ["apples", "stickers", "marbles", "pencils", "cookies", "books", "coins", "stamps"]


def make_word_problems(rng: random.Random, n: int = 400) -> list[dict[str, str]]:
    rows = []
    for _ in range(n):
        person, other = rng.sample(_PEOPLE, 2)
        item = rng.choice(_ITEMS)
        kind = rng.randrange(4)
        a, b, c = rng.randint(2, 60), rng.randint(2, 30), rng.randint(2, 9)
        if kind == 0:
            q = f"{person} has {a} {item}. {other} gives {person} {b} more. How many {item} does {person} have now?"
            ans = a + b
        elif kind == 1:
            a = a + b
            q = f"{person} had {a} {item} and gave {b} to {other}. How many {item} does {person} have left?"
            ans = a - b
        elif kind == 2:
            q = f"{person} buys {c} bags of {item} with {b} {item} in each bag. How many {item} is that in total?"
            ans = b * c
        else:
            total = b * c
            q = f"{person} shares {total} {item} equally among {c} friends. How many {item} does each friend get?"
            ans = b
        rows.append({"question": f"Solve the problem and answer with a number.\n\n{q}\n\nAnswer:", "answer": str(ans)})
    return rows


def build() -> dict[str, bytes]:
    """All example files as bytes, keyed by file name (one RNG per file so each is stable on its own)."""
    files: dict[str, bytes] = {}
    files["sentiment_reviews.csv"] = make_sentiment(random.Random(SEED)).to_csv(index=False).encode()
    files["restaurant_json.jsonl"] = "".join(
        json.dumps(r) + "\n" for r in make_structured(random.Random(SEED + 1))).encode()
    buf = io.BytesIO()
    # No pandas metadata and a fixed writer so the bytes are the same on every run.
    make_tickets(random.Random(SEED + 2)).to_parquet(buf, index=False, engine="pyarrow", compression="zstd")
    files["support_tickets.parquet"] = buf.getvalue()
    files["word_problems.json"] = (json.dumps(make_word_problems(random.Random(SEED + 3)), indent=1) + "\n").encode()
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--check", action="store_true", help="compare with the files on disk instead of writing")
    args = parser.parse_args(argv)
    files = build()
    if args.check:
        stale = [name for name, data in files.items()
                 if name.endswith((".csv", ".jsonl", ".json"))  # parquet bytes may vary across pyarrow versions
                 and (not (args.out / name).exists() or (args.out / name).read_bytes() != data)]
        if stale:
            print("out of date: " + ", ".join(stale), file=sys.stderr)
            return 1
        print("examples up to date")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        tmp = args.out / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(args.out / name)
        print(f"wrote {args.out / name} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
