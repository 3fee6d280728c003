"""Several servers behind one backend: least-in-flight choice, cool-down, per-endpoint counts.

A run may name several base URLs that serve the same model (a fleet of vLLM or SGLang
servers). Each request goes to the usable endpoint with the fewest requests in flight. An
endpoint whose last ``failures`` requests in a row failed for a reason that belongs to the
server (it cannot be reached, timed out or answered 5xx) is set aside for ``cool_down``
seconds while the others carry the run; after that it gets requests again, and one success
puts it back for good. When every endpoint is set aside, the one that comes back first is
used anyway: a run is never refused for want of a healthy server, the retry budget decides.

Each endpoint spreads its requests over *lanes*, clients of their own: a new lane opens when
every lane has ``lane_size`` requests in flight. An HTTP client's connection pool does work
in proportion to its connections on every request, so 128 requests in flight cost far less
CPU as 8 pools of 16 connections than as one pool of 128.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

C = TypeVar("C")


class EndpointStats(BaseModel):
    """What one endpoint did in a run (for the run summary)."""

    url: str
    requests: int = 0
    errors: int = 0
    in_flight: int = 0
    set_aside: int = 0


@runtime_checkable
class HasEndpoints(Protocol):
    """A backend that spreads its requests over several endpoints."""

    def endpoint_stats(self) -> list[EndpointStats]: ...


def endpoint_stats(backend: object) -> list[EndpointStats]:
    """Per-endpoint counts of a backend; empty for a backend without endpoints."""
    return backend.endpoint_stats() if isinstance(backend, HasEndpoints) else []


#: Requests in flight on one client before the endpoint opens another.
LANE_SIZE = 16


@dataclass
class Endpoint(Generic[C]):
    url: str
    client: C
    #: every client of this endpoint (``client`` first) and the requests in flight on each
    lanes: list[C] = field(default_factory=list)
    lane_load: list[int] = field(default_factory=list)
    requests: int = 0
    errors: int = 0
    in_flight: int = 0
    streak: int = 0
    set_aside: int = 0
    down_until: float = 0.0

    def stats(self) -> EndpointStats:
        return EndpointStats(
            url=self.url,
            requests=self.requests,
            errors=self.errors,
            in_flight=self.in_flight,
            set_aside=self.set_aside,
        )


class EndpointPool(Generic[C]):
    """Endpoints with their clients; picks one per request and keeps their counts.

    Everything runs on one event loop (no awaits inside), so no lock is needed.
    """

    def __init__(
        self,
        urls: Sequence[str],
        make_client: Callable[[str], C],
        *,
        failures: int = 3,
        cool_down: float = 30.0,
        lane_size: int = LANE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise ValueError("at least one endpoint is needed")
        if failures < 1:
            raise ValueError("failures must be at least 1")
        self.endpoints = [Endpoint(url, make_client(url)) for url in urls]
        for endpoint in self.endpoints:
            endpoint.lanes.append(endpoint.client)
            endpoint.lane_load.append(0)
        self._make_client = make_client
        self.lane_size = lane_size
        self.failures = failures
        self.cool_down = cool_down
        self._clock = clock
        self._turn = 0

    def __len__(self) -> int:
        return len(self.endpoints)

    def pick(self, avoid: Collection[str] = ()) -> Endpoint[C]:
        """The endpoint for the next request: usable, not in ``avoid`` if another is, and
        with the fewest requests in flight (ties go round the pool)."""
        now = self._clock()
        usable = [e for e in self.endpoints if e.down_until <= now]
        fresh = [e for e in usable if e.url not in avoid]
        choices = fresh or usable
        if not choices:  # every endpoint is set aside: the first to come back
            return min(self.endpoints, key=lambda e: e.down_until)
        self._turn += 1
        size = len(self.endpoints)
        order = {id(e): (i - self._turn) % size for i, e in enumerate(self.endpoints)}
        return min(choices, key=lambda e: (e.in_flight, order[id(e)]))

    def has_other(self, avoid: Collection[str]) -> bool:
        """Whether a usable endpoint outside ``avoid`` exists (a failover can go at once)."""
        now = self._clock()
        return any(e.down_until <= now and e.url not in avoid for e in self.endpoints)

    @contextmanager
    def sending(self, endpoint: Endpoint[C]) -> Iterator[C]:
        """The client to send on (the endpoint's least busy lane, a new one if all are
        full); the request counts as in flight while the block runs."""
        lane = min(range(len(endpoint.lanes)), key=endpoint.lane_load.__getitem__)
        if endpoint.lane_load[lane] >= self.lane_size:
            endpoint.lanes.append(self._make_client(endpoint.url))
            endpoint.lane_load.append(0)
            lane = len(endpoint.lanes) - 1
        endpoint.requests += 1
        endpoint.in_flight += 1
        endpoint.lane_load[lane] += 1
        try:
            yield endpoint.lanes[lane]
        finally:
            endpoint.in_flight -= 1
            endpoint.lane_load[lane] -= 1

    def clients(self) -> list[C]:
        """Every client of every endpoint (to close them)."""
        return [client for endpoint in self.endpoints for client in endpoint.lanes]

    def succeeded(self, endpoint: Endpoint[C]) -> None:
        endpoint.streak = 0
        endpoint.down_until = 0.0

    def failed(self, endpoint: Endpoint[C], *, server_fault: bool) -> None:
        """Count an error; a run of ``failures`` server faults sets the endpoint aside."""
        endpoint.errors += 1
        if not server_fault:
            return
        endpoint.streak += 1
        if endpoint.streak < self.failures or len(self.endpoints) == 1:
            return
        now = self._clock()
        if endpoint.down_until <= now:
            endpoint.set_aside += 1
        endpoint.down_until = now + self.cool_down
        # on probation when it comes back: one more fault sets it aside again
        endpoint.streak = self.failures - 1

    def stats(self) -> list[EndpointStats]:
        return [e.stats() for e in self.endpoints]
