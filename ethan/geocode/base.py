"""The geocoder contract: a :class:`~ethan.types.Guess` in, a :class:`Resolved` point out."""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from ethan.types import Guess

Level = Literal["landmark", "place", "city", "region", "country", "continent"]

# most specific first; used to rank competing readings of one guess
LEVELS: tuple[Level, ...] = ("landmark", "place", "city", "region", "country", "continent")


class Resolved(BaseModel):
    """What a name resolved to: a real point of a real place, never a made-up fallback."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    level: Level
    name: str = Field(description='canonical name of the match, e.g. "Paris, France"')
    country_code: str | None = Field(default=None, description="ISO 3166-1 alpha-2")
    area: str | None = Field(
        default=None,
        description='the offline index key of a region or district match ("US.AZ", '
        '"US.CA.059"): what lies inside it can be checked',
    )


@runtime_checkable
class Geocoder(Protocol):
    """Anything that turns the names of a guess into a point."""

    def resolve(self, guess: Guess) -> Resolved | None:
        """The point of the most specific name that matched; ``None`` if nothing did."""
        ...
