"""Small tasks built in code for the real-model tests (SmolLM2-135M-Instruct on CPU); no data is read.

- :func:`ticket_routing_pairs`: route a support ticket to a team. The answer is one word the prompt
  does not list, so the instruction-tuned model rarely says it zero-shot, while a short LoRA fine-tune
  learns the four words and the cue words that pick each one (a task far from noise either way).
- :func:`capital_pairs`: the capital of a well-known country, which the model mostly knows zero-shot.

Import as ``from real_model_tasks import ...`` (tests/ is on sys.path).
"""
from __future__ import annotations

import random

_TEAMS: dict[str, tuple[list[str], list[str]]] = {
    "billing": (
        ["I was charged twice for my {thing}", "my invoice for the {thing} shows the wrong amount",
         "please refund the {thing} I cancelled", "the payment for my {thing} failed but the money is gone",
         "why did my card get billed for the {thing} again"],
        ["subscription", "order", "plan", "renewal", "upgrade"],
    ),
    "technical": (
        ["the {thing} crashes every time I open it", "I get an error code when the {thing} starts",
         "the {thing} freezes after the latest update", "the {thing} will not connect to wifi",
         "the screen of the {thing} stays black after rebooting"],
        ["app", "router", "printer", "laptop", "camera"],
    ),
    "shipping": (
        ["my {thing} has not arrived after two weeks", "the tracking number for my {thing} does not work",
         "the courier left my {thing} at the wrong address", "my {thing} arrived damaged in the box",
         "can you send the {thing} by express delivery instead"],
        ["parcel", "package", "chair", "lamp", "headphones"],
    ),
    "account": (
        ["I cannot log in to my {thing} anymore", "please reset the password of my {thing}",
         "how do I change the email address on my {thing}", "someone else signed in to my {thing}",
         "I want to delete my {thing} and all my data"],
        ["account", "profile", "user account", "login", "membership"],
    ),
}
_OPENERS = ["", "Hello, ", "Hi team, ", "Urgent: ", "Good morning, "]
_CLOSERS = ["", " Thanks.", " Please help.", " What should I do?", " This is the second time."]


def ticket_routing_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (prompt, completion) pairs; completions are `` billing``, `` technical``, `` shipping`` or `` account``.

    Example:
        >>> prompt, team = ticket_routing_pairs(1)[0]
        >>> prompt.endswith("Team:"), team in {" billing", " technical", " shipping", " account"}
        (True, True)
    """
    rng = random.Random(seed)
    teams = sorted(_TEAMS)
    pairs = []
    for _ in range(n):
        team = rng.choice(teams)
        templates, things = _TEAMS[team]
        text = rng.choice(_OPENERS) + rng.choice(templates).format(thing=rng.choice(things)) + "." + rng.choice(_CLOSERS)
        pairs.append((f"Ticket: {text}\nTeam:", f" {team}"))
    return pairs


_CAPITALS = [
    ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Japan", "Tokyo"),
    ("China", "Beijing"), ("Russia", "Moscow"), ("Egypt", "Cairo"), ("Greece", "Athens"), ("Portugal", "Lisbon"),
    ("Austria", "Vienna"), ("Ireland", "Dublin"), ("Norway", "Oslo"), ("Sweden", "Stockholm"), ("Poland", "Warsaw"),
    ("Canada", "Ottawa"), ("Peru", "Lima"), ("Kenya", "Nairobi"), ("Thailand", "Bangkok"), ("Finland", "Helsinki"),
]


def capital_pairs() -> list[tuple[str, str]]:
    """One (prompt, completion) pair per country: ``"The capital of France is"`` -> ``" Paris"``."""
    return [(f"The capital of {country} is", f" {capital}") for country, capital in _CAPITALS]
