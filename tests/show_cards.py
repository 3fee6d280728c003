"""Print a predictions file as ``ethan locate`` prints results: a card per prediction on a
terminal, the JSON lines unchanged when piped. Run by the card tests inside a real pty.

    python tests/show_cards.py predictions.jsonl
"""

from __future__ import annotations

import sys

from rich.console import Console

from ethan.card import emit_card, use_cards
from ethan.results import read_predictions


def main(path: str) -> None:
    cards = use_cards(sys.stdout)
    console = Console()
    for prediction in read_predictions(path):
        if cards:
            emit_card(prediction, console)
        else:
            sys.stdout.write(prediction.to_json_line())
            sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1])
