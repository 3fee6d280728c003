"""Name normalisation: fold case, accents and punctuation, strip filler words.

Every lookup key in the gazetteer is made with :func:`fold`, so a query and an index entry
compare equal when they differ only in case, accents, apostrophes, hyphens or common
abbreviations ("St." / "Saint").
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator

# letters that NFKD does not decompose into a base letter plus a combining mark
_LETTERS = str.maketrans(
    {
        "ø": "o",
        "æ": "ae",
        "œ": "oe",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",
        "ħ": "h",
        "ŧ": "t",
        "ŋ": "n",
    }
)
_APOSTROPHES = re.compile(r"['’‘`´ʻʼʽʿʾ′]")
_SEPARATORS = re.compile(r"[\W_]+")
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "mt": "mount", "ft": "fort"}
_ABBREVIATED = re.compile(r"\b(?:st|ste|mt|ft)\b")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
# scripts other than Latin: Greek onwards, except Latin Extended Additional and punctuation
_NON_LATIN = re.compile("[\u0370-\u1dbf\u1f00-\u1fff\u2c00-\uffff]")
_PARENTHESES = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")

_UNKNOWN = frozenset(
    {
        "",
        "unknown",
        "n a",
        "na",
        "none",
        "null",
        "not sure",
        "unsure",
        "unclear",
        "various",
        "not applicable",
        "not visible",
        "not specified",
        "not available",
        "not known",
        "not identifiable",
        "not determinable",
        "undetermined",
        "indeterminate",
        "unidentified",
        "uncertain",
        "unspecified",
        "cannot determine",
        "cannot be determined",
        "can not be determined",
        "no visible text",
        "none visible",
        "unavailable",
        "not given",
        "not provided",
        # placeholders that stand for "some place" rather than name one
        "anytown",
        "any town",
        "any city",
        "anycity",
        "any state",
        "anystate",
        "any country",
        "somewhere",
        "rural area",
        "suburban area",
        "urban area",
        "residential area",
        "rural",
        "countryside",
    }
)
# what a name is left as after its fillers are stripped when it names a kind of place only
_GENERIC = frozenset(
    [
        "area",
        "region",
        "city",
        "town",
        "village",
        "state",
        "province",
        "district",
        "county",
        "countryside",
        "suburb",
        "suburbs",
        "outskirts",
        "downtown",
        "rural",
        "urban",
        "residential",
        "street",
        "road",
        "highway",
        "park",
    ]
)
# trailing words of town names that only say what kind of municipality it is ("Fushimi-ku")
_KIND_SUFFIXES = frozenset(
    ["ku", "shi", "gun", "machi", "si", "gu", "cho", "mura", "son", "dong", "eup", "myeon"]
)

# leading words that say how sure or where-in, not which place ("somewhere in rural Ohio")
_PREFIXES = tuple(
    p.split()
    for p in (
        "somewhere in",
        "somewhere near",
        "somewhere around",
        "somewhere",
        "probably",
        "possibly",
        "likely",
        "most likely",
        "maybe",
        "perhaps",
        "rural",
        "urban",
        "suburban",
        "near",
        "nearby",
        "around",
        "close to",
        "outside of",
        "outside",
        "on the outskirts of",
        "the outskirts of",
        "outskirts of",
        "a suburb of",
        "suburb of",
        "suburbs of",
        "the suburbs of",
        "the city of",
        "city of",
        "the town of",
        "town of",
        "the village of",
        "village of",
        "municipality of",
        "the state of",
        "state of",
        "province of",
        "the province of",
        "region of",
        "the region of",
        "downtown",
        "the old town of",
        "old town of",
        "the historic centre of",
        "the historic center of",
        "historic centre of",
        "historic center of",
        "the centre of",
        "the center of",
        "centre of",
        "center of",
        "the heart of",
        "heart of",
        "central",
        "northern",
        "southern",
        "eastern",
        "western",
        "northeastern",
        "northwestern",
        "southeastern",
        "southwestern",
        "north",
        "south",
        "east",
        "west",
        "northeast",
        "northwest",
        "southeast",
        "southwest",
        "north east",
        "north west",
        "south east",
        "south west",
        "sub saharan",
        "upstate",
        "coastal",
        "inland",
        "greater",
        "metropolitan",
        "metro",
        "the",
        "in",
    )
)

# trailing words that name the kind of area rather than the area ("Muntinlupa City")
_SUFFIXES = tuple(
    s.split()
    for s in (
        "metropolitan area",
        "metro area",
        "old town",
        "city centre",
        "city center",
        "downtown",
        "area",
        "region",
        "outskirts",
        "suburbs",
        "countryside",
        "vicinity",
        "city",
        "town",
        "village",
        "municipality",
        "district",
        "county",
        "province",
        "prefecture",
        "state",
        "oblast",
        "governorate",
        "ku",
        "shi",
        "gun",
        "machi",
        "si",
        "gu",
    )
)


@functools.lru_cache(maxsize=8192)
def fold(text: str) -> str:
    """Lower-case, accent-free, punctuation-free key of a name; "" when nothing is left."""
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text)).casefold()
        text = _APOSTROPHES.sub("", text.translate(_LETTERS))
    else:
        text = text.lower().replace("'", "").replace("`", "")
    text = text.replace(".", "").replace("&", " and ")
    key = _SEPARATORS.sub(" ", text).strip()
    if _ABBREVIATED.search(key) is not None:
        key = _ABBREVIATED.sub(lambda m: _ABBREVIATIONS[m.group(0)], key)
    return key


def maybe_latin(text: str) -> bool:
    """Cheap pre-check: whether a raw name may be Latin script (no Greek, Cyrillic, CJK...)."""
    if text.isascii():
        return True
    first = text[0]
    if "\u0370" <= first <= "\u1dbf" or first >= "\u1f00":
        return False  # most names in another script start with a letter of that script
    return _NON_LATIN.search(text) is None


def is_latin_key(key: str) -> bool:
    """Whether a folded key is plain ASCII (Latin script once accents are gone)."""
    return key.isascii()


def split_parts(text: str) -> list[str]:
    """Split "City, Region, Country" (commas or semicolons) into stripped, non-empty parts."""
    return [p.strip() for p in re.split(r"[;,]", _PARENTHESES.sub(" ", text)) if p.strip()]


def is_unknown(text: str | None) -> bool:
    """Whether a field is empty or a placeholder such as "unknown", "N/A", "Unknown City"."""
    if text is None:
        return True
    key = fold(_PARENTHESES.sub(" ", text))
    return key in _UNKNOWN or key.startswith(("unknown ", "unspecified ", "unidentified "))


def _by_edge_word(
    affixes: tuple[list[str], ...], *, leading: bool
) -> dict[str, tuple[list[str], ...]]:
    """Affixes grouped by the word they start (prefixes) or end (suffixes) with, in order."""
    out: dict[str, list[list[str]]] = {}
    for affix in affixes:
        out.setdefault(affix[0] if leading else affix[-1], []).append(affix)
    return {k: tuple(v) for k, v in out.items()}


_PREFIX_INDEX = _by_edge_word(_PREFIXES, leading=True)
_SUFFIX_INDEX = _by_edge_word(_SUFFIXES, leading=False)


def _strip(tokens: list[str], *, leading: bool) -> list[str]:
    index = _PREFIX_INDEX if leading else _SUFFIX_INDEX
    changed = True
    while changed and tokens:
        changed = False
        for affix in index.get(tokens[0] if leading else tokens[-1], ()):
            n = len(affix)
            if len(tokens) <= n:
                continue  # never strip a name down to nothing
            part = tokens[:n] if leading else tokens[-n:]
            if part == affix:
                tokens = tokens[n:] if leading else tokens[:-n]
                changed = True
                break
    return tokens


def name_variants(text: str) -> Iterator[str]:
    """Keys to try for one name, from the literal to the most stripped, without repeats.

    "Somewhere in northern Italy (Lombardy)" gives "somewhere in northern italy", then
    "italy". Parenthesised content is dropped. Placeholders ("unknown") give nothing.
    """
    if is_unknown(text):
        return
    seen: set[str] = set()
    full = fold(_PARENTHESES.sub(" ", text))
    tokens = full.split()
    front = _strip(tokens, leading=True)
    both = _strip(front, leading=False)
    for candidate in (full, " ".join(front), " ".join(both)):
        if candidate in _GENERIC and candidate != full:
            continue  # "rural area" is no town called "Area"
        if candidate and candidate not in seen and candidate not in _UNKNOWN:
            seen.add(candidate)
            yield candidate


def bare_name(key: str) -> str | None:
    """A folded town name without its municipality suffix ("fushimi ku" → "fushimi"), or
    ``None`` when it has none."""
    tokens = key.split()
    if len(tokens) > 1 and tokens[-1] in _KIND_SUFFIXES:
        return " ".join(tokens[:-1])
    return None
