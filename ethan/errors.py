"""The exception tree. Every error is an :class:`EthanError`; many also inherit the builtin
that describes them (``TimeoutError``, ``ValueError``...) so callers can catch either."""

from __future__ import annotations

from typing import Any


class EthanError(Exception):
    """Base class of every error raised by ethan."""


class ConfigError(EthanError, ValueError):
    """A setting is missing or invalid; the message names the fix."""


class NothingToDoError(ConfigError):
    """The input holds nothing to work on (no images, no usable dataset rows)."""


class MissingAPIKeyError(ConfigError):
    """No API key for a service that needs one."""


class MissingDependencyError(EthanError, ImportError):
    """An optional dependency is not installed; the message gives the install command."""


class ImageError(EthanError, ValueError):
    """An image could not be read or prepared."""


class TemplateError(EthanError, ValueError):
    """A prompt template is missing, invalid or tried something the sandbox forbids."""


class ImageTemplateError(TemplateError, ImageError):
    """The prompt cannot be built for this one image (e.g. a few-shot example is the photo
    itself): that image fails, the others go on."""


class OutputLockedError(EthanError, RuntimeError):
    """Another run is writing the same output file."""


class BackendError(EthanError, RuntimeError):
    """A model backend failed. Carries the HTTP status and body when there was one."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body
        self.retry_after = retry_after


class BackendTimeoutError(BackendError, TimeoutError):
    """The model server did not answer in time."""


class BackendConnectionError(BackendError, ConnectionError):
    """The model server could not be reached or dropped the connection."""


class InvalidResponseError(BackendError):
    """The server answered, but not with a usable completion (bad JSON, no choices)."""


class RateLimitError(BackendError):
    """HTTP 429: too many requests."""


class ServerError(BackendError):
    """HTTP 5xx from the model server."""


class AuthenticationError(BackendError, PermissionError):
    """HTTP 401/403: the key is wrong or lacks access. Never retried."""


class BadRequestError(BackendError, ValueError):
    """HTTP 400/404/422: the request itself is wrong. Never retried."""


class GeocoderError(EthanError):
    """A geocoder failed."""


class GeocoderTimedOutError(GeocoderError, TimeoutError):
    """An online geocoder did not answer in time."""
