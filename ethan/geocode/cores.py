"""The proper name inside a feature's description: "Bled Castle" is at Bled.

Models often name the thing in the photo by the place it belongs to plus what it is: a
castle, a harbour, a valley, an old town ("Bled Castle", "Port of Dubrovnik", "Chamonix
Valley", "Tallinn Old Town"). When the whole name is unknown, :func:`cores` yields what is
left after dropping such words from either end, longest first ("Cape Town Harbour" gives
"cape town" before "cape"), so the caller can read each as a landmark or a town of the
named area. Only words that describe a kind of place are dropped; a proper name beside them
is kept whole. Some kinds are usually named after a person or another place (a street, a
square, a station, a church, a palace: "Washington Street", "Kennedy Airport", "St Paul's
Cathedral"); :func:`named_after` tells the caller not to read their remainder as a town.
"""

from __future__ import annotations

from collections.abc import Iterator

from ethan.geocode.text import fold

# words that say what kind of place a name is, in the languages models write
_KINDS = frozenset(
    """
    castle castles schloss burg chateau castillo castello castelo zamek slott hrad
    cathedral cathedrale catedral cattedrale duomo dom kathedrale church churches iglesia
    chiesa eglise kirche basilica abbey abbaye monastery monasterio convent chapel temple
    temples shrine shrines pagoda mosque masjid synagogue palace palacio palazzo palais
    fort fortress citadel citadelle walls wall gate gates tower towers lighthouse
    harbor harbour harbors harbours port porto puerto marina pier piers quay docks waterfront
    promenade boardwalk seafront beach beaches playa plage spiaggia praia coast coastline
    shore bay cove lagoon lake lakes lac lago see loch river riverside rio fluss canal canals
    valley vale gorge canyon falls waterfall cascade mountains mountain mount mt hills hill
    peak range ridge pass glacier volcano island islands isle peninsula cape rim side
    old town city village centre center downtown historic historical quarter district
    medina souk bazaar market square plaza piazza platz place skyline streets street
    road avenue boulevard bridge station airport university campus college museum
    gallery zoo stadium arena park parks national garden gardens botanical reserve
    forest wood woods countryside area region outskirts suburbs surroundings vicinity
    ruins ruin site archaeological amphitheatre amphitheater theatre theater hall
    point viewpoint lookout overlook trail trailhead monument memorial statue rock rocks
    cliff cliffs dunes springs crater grotto cave caves lakeside lakefront seaside
    riverfront beachfront oceanfront
    """.split()  # noqa: SIM905 - a word list reads better as text
)
# dropped only beside a kind word: joining words and sides ("South Rim", "Old Town of")
_JOINS = frozenset(
    {"of", "the", "de", "del", "della", "di", "du", "des", "la", "le", "von"}
    | {"north", "south", "east", "west", "northern", "southern", "eastern", "western"}
    | {"upper", "lower", "central", "inner", "outer", "main", "famous", "scenic"}
)
# kinds named after people or other places as often as after where they stand
_NAMED_AFTER = frozenset(
    """
    street streets road avenue boulevard square plaza piazza platz place station airport
    bridge memorial monument statue hall university campus college stadium arena museum
    gallery theatre theater park parks garden gardens church churches cathedral cathedrale
    catedral cattedrale basilica chapel abbey monastery convent temple temples shrine mosque
    synagogue palace palacio palazzo palais tower towers fort fortress
    """.split()  # noqa: SIM905 - a word list reads better as text
)
_MIN_KEY = 4  # a shorter remainder is too short to be a name of its own
# a remainder of one of these words alone is a describing word, no name ("Grand" of
# "Grand Canyon South Rim" once "Canyon" is gone)
_ADJECTIVES = frozenset(
    """
    grand great big little small royal saint sainte santa santo holy white black red blue
    green golden silver crystal sunset sunrise paradise hidden secret ancient
    """.split()  # noqa: SIM905 - a word list reads better as text
)


def cores(text: str) -> Iterator[str]:
    """Folded remainders of ``text`` with kind words (and joining words) dropped from its
    ends, longest first; nothing when no kind word stands at an end."""
    words = fold(text).replace("-", " ").split()
    n = len(words)
    spans: list[tuple[int, int]] = []
    for start in range(n):
        if not _droppable(words[:start]):
            break
        for end in range(n, start, -1):
            if not _droppable(words[end:]):
                break
            if any(w in _KINDS for w in words[:start] + words[end:]):
                spans.append((start, end))
    seen: set[str] = set()
    for start, end in sorted(spans, key=lambda s: (s[0] - s[1], s[0])):
        core = words[start:end]
        if core[0] in _JOINS or core[-1] in _JOINS or all(w in _KINDS for w in core):
            continue
        if len(core) == 1 and core[0] in _ADJECTIVES:
            continue
        key = " ".join(core)
        if len(key) >= _MIN_KEY and key not in seen:
            seen.add(key)
            yield key


def _droppable(words: list[str]) -> bool:
    return all(w in _KINDS or w in _JOINS for w in words)


def named_after(text: str) -> bool:
    """Whether ``text`` names a kind of place often named after someone or somewhere else
    ("Oxford Street", "Union Station"): its remainder is then no town."""
    words = fold(text).replace("-", " ").split()
    return any(w in _NAMED_AFTER for w in words[:1] + words[-1:])
