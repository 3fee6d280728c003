"""GPT-4o, or any OpenAI-compatible chat server (vLLM, Ollama, llama.cpp server, LM Studio...).

Uses the official ``openai`` SDK with its own retries switched off: retries are ours
(tenacity), so that they are bounded, honour ``Retry-After`` and never repeat a 400/401/403.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import time
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import urlparse

import httpx
import openai
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from ethan.backends.base import (
    Choice,
    GenerateConfig,
    ImagePart,
    Message,
    ModelOutput,
    TextPart,
)
from ethan.backends.endpoints import Endpoint, EndpointPool, EndpointStats
from ethan.errors import (
    AuthenticationError,
    BackendConnectionError,
    BackendError,
    BackendTimeoutError,
    BadRequestError,
    ConfigError,
    InvalidResponseError,
    MissingAPIKeyError,
    RateLimitError,
    ServerError,
)
from ethan.fields import cli, describe
from ethan.types import Usage

PANEL = "OpenAI-compatible servers (--backend openai)"

log = logging.getLogger(__name__)

OFFICIAL_BASE_URL = "https://api.openai.com/v1"
#: Placeholder sent to self-hosted servers that ignore the key (vLLM's convention).
NO_KEY = "EMPTY"
RETRYABLE = (
    RateLimitError,
    ServerError,
    BackendTimeoutError,
    BackendConnectionError,
    InvalidResponseError,
)
#: Failures that belong to the server, not the request: they count towards setting an
#: endpoint aside, and a retry of them goes to another endpoint when there is one.
SERVER_FAULTS = (ServerError, BackendTimeoutError, BackendConnectionError)


class OpenAIOptions(BaseModel):
    """Settings of the OpenAI backend (flags, ``-o KEY=VALUE`` or ``backend.options``)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | list[str] | None = Field(
        default=None,
        description="OpenAI-compatible server URL (default: OPENAI_BASE_URL); repeat the flag "
        "for several servers of the same model.",
        json_schema_extra=cli(PANEL),
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="API key (default: OPENAI_API_KEY); never saved.",
        json_schema_extra=cli(PANEL),
    )
    timeout: float = Field(default=120.0, gt=0, description="seconds per request")
    max_attempts: int = Field(default=5, ge=1, description="tries per request, first included")
    max_retry_wait: float = Field(default=60.0, ge=0, description="cap on one wait, seconds")
    detail: Literal["auto", "low", "high"] = "auto"
    response_format: Literal["json_schema", "json_object", "text"] = Field(
        default="json_schema",
        description="ask for structured output; falls back to text if the server rejects it",
    )
    endpoint_failures: int = Field(
        default=3,
        ge=1,
        description="with several base URLs: server faults in a row (unreachable, timeout, "
        "5xx) that set an endpoint aside",
    )
    endpoint_cool_down: float = Field(
        default=30.0, ge=0, description="seconds an endpoint that keeps failing is set aside"
    )


class OpenAIBackend:
    """Chat completions over the OpenAI API or a compatible server.

    ``base_url`` may list several servers of the same model: each request goes to the one
    with the fewest in flight, one that keeps failing is set aside for a while, and a failed
    request is retried on another (see :mod:`ethan.backends.endpoints`).
    """

    name = "openai"
    Options = OpenAIOptions

    def __init__(
        self,
        model: str = "gpt-4o",
        *,
        base_url: str | Sequence[str] | None = None,
        api_key: str | None = None,
        options: OpenAIOptions | None = None,
        **option_overrides: Any,
    ) -> None:
        self.model = model
        if base_url is not None:
            option_overrides["base_url"] = base_url if isinstance(base_url, str) else list(base_url)
        if api_key is not None:
            option_overrides["api_key"] = api_key
        try:
            self.options = OpenAIOptions.model_validate(
                {**(options or OpenAIOptions()).model_dump(exclude_unset=True), **option_overrides}
            )
        except ValidationError as exc:
            raise ConfigError(describe(exc, "openai backend option ")) from None
        self.base_urls = _base_urls(self.options.base_url)
        #: the first endpoint (the only one, in the usual case)
        self.base_url = self.base_urls[0]
        given = self.options.api_key
        key = (given.get_secret_value() if given else None) or os.environ.get("OPENAI_API_KEY")
        if not key:
            official = urlparse(OFFICIAL_BASE_URL).hostname
            if any(urlparse(url).hostname == official for url in self.base_urls):
                raise MissingAPIKeyError(
                    "no OpenAI API key: set the OPENAI_API_KEY environment variable or pass "
                    "--api-key (api_key= in Python); for a self-hosted server pass --base-url"
                )
            key = NO_KEY
        self._secret = key if key != NO_KEY else None
        self._pool = EndpointPool(
            self.base_urls,
            lambda url: openai.AsyncOpenAI(
                api_key=key, base_url=url, timeout=self.options.timeout, max_retries=0
            ),
            failures=self.options.endpoint_failures,
            cool_down=self.options.endpoint_cool_down,
        )
        #: the first endpoint's client
        self._client = self._pool.endpoints[0].client
        self._structured_ok = self.options.response_format != "text"
        self._backoff = wait_random_exponential(multiplier=0.5, max=self.options.max_retry_wait)

    def identity(self) -> dict[str, Any]:
        """Which endpoint answered does not count (they serve the same model): one URL is
        named as itself, several as their sorted list."""
        urls = sorted(self.base_urls)
        return {
            "backend": self.name,
            "model": self.model,
            "base_url": urls[0] if len(urls) == 1 else urls,
            "detail": self.options.detail,
        }

    def endpoint_stats(self) -> list[EndpointStats]:
        """Requests, errors and requests in flight per endpoint, in the order given."""
        return self._pool.stats()

    async def aclose(self) -> None:
        for client in self._pool.clients():
            await client.close()

    # -- request building -------------------------------------------------------------------

    def _content(self, message: Message) -> str | list[dict[str, Any]]:
        if message.role != "user":
            return "".join(p.text for p in message.content if isinstance(p, TextPart))
        parts: list[dict[str, Any]] = []
        for part in message.content:
            if isinstance(part, ImagePart):
                url = {"url": part.data_url(), "detail": self.options.detail}
                parts.append({"type": "image_url", "image_url": url})
            else:
                parts.append({"type": "text", "text": part.text})
        return parts

    def _response_format(self, config: GenerateConfig) -> dict[str, Any] | None:
        if not self._structured_ok or config.json_schema is None:
            return None
        if self.options.response_format == "json_object":
            return {"type": "json_object"}
        return {
            "type": "json_schema",
            "json_schema": {"name": config.schema_name, "schema": config.json_schema},
        }

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The first endpoint's SDK client (its own retries off); the Batch API uses it."""
        return self._client

    def request_body(
        self, messages: list[Message], config: GenerateConfig, n: int
    ) -> dict[str, Any]:
        """The JSON body of a chat-completions request asking for ``n`` choices (what a live
        call sends, and what a Batch API line carries)."""
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": self._content(m)} for m in messages],
        }
        if n > 1:
            request["n"] = n
        if config.temperature is not None:
            request["temperature"] = config.temperature
        if config.max_tokens is not None:
            request["max_tokens"] = config.max_tokens
        if config.seed is not None:
            request["seed"] = config.seed
        response_format = self._response_format(config)
        if response_format is not None:
            request["response_format"] = response_format
        return request

    # -- calling ----------------------------------------------------------------------------

    async def generate(self, messages: list[Message], config: GenerateConfig) -> ModelOutput:
        """Ask for ``config.n`` choices; servers that ignore ``n`` are asked again."""
        choices: list[Choice] = []
        usage = Usage()
        model = self.model
        while len(choices) < config.n:
            out = await self._with_retries(messages, config, config.n - len(choices))
            choices.extend(out.choices)
            usage = usage + out.usage
            model = out.model
        return ModelOutput(model=model, choices=choices[: config.n], usage=usage)

    async def _with_retries(
        self, messages: list[Message], config: GenerateConfig, n: int
    ) -> ModelOutput:
        request = self.request_body(messages, config, n)  # built once, whatever the attempts
        tried: list[str] = []

        def wait(state: RetryCallState) -> float:
            # a server's fault, and another endpoint is usable: go there now
            exc = state.outcome.exception() if state.outcome else None
            failover = isinstance(exc, (*SERVER_FAULTS, RateLimitError))
            if failover and self._pool.has_other(tried):
                return 0.0
            return self._wait(state)

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(RETRYABLE),
            stop=stop_after_attempt(self.options.max_attempts),
            wait=wait,
            reraise=True,
            before_sleep=self._log_retry,
        )
        async for attempt in retrying:
            with attempt:
                endpoint = self._pool.pick(avoid=tried)
                tried.append(endpoint.url)
                return await self._send(endpoint, request)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(
        self, endpoint: Endpoint[openai.AsyncOpenAI], request: dict[str, Any]
    ) -> ModelOutput:
        """One attempt on one endpoint, counted in its stats."""
        with self._pool.sending(endpoint) as client:
            try:
                output = await self._once(client, request)
            except BackendError as exc:
                self._pool.failed(endpoint, server_fault=isinstance(exc, SERVER_FAULTS))
                raise
        self._pool.succeeded(endpoint)
        return output

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, BackendError) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), self.options.max_retry_wait)
        return float(self._backoff(state))

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "retrying %s after %.1fs (attempt %d): %s", self.model, wait, state.attempt_number, exc
        )

    async def _once(self, client: openai.AsyncOpenAI, request: dict[str, Any]) -> ModelOutput:
        if "response_format" in request and not self._structured_ok:
            request = {k: v for k, v in request.items() if k != "response_format"}
        try:
            # the body is ours and already plain JSON: posting it skips the SDK's
            # per-request walk of its parameter types (~1 ms of CPU an image), and the answer
            # is read as JSON straight into ours (no ChatCompletion object in between)
            response = await client.post(
                "/chat/completions", body=request, cast_to=httpx.Response
            )
            completion = json.loads(response.content)
        except openai.APIStatusError as exc:
            # Servers reject an unknown response format as 400, 422 or even 500
            # (llama_cpp.server): fall back to plain text once.
            rejected = exc.status_code in (400, 422, 500) and _mentions_format(exc)
            if "response_format" in request and rejected:
                log.info("server rejected response_format; falling back to plain text")
                self._structured_ok = False
                return await self._once(client, request)
            raise self._error(exc) from None
        except openai.OpenAIError as exc:
            raise self._error(exc) from None
        except json.JSONDecodeError as exc:
            raise InvalidResponseError(f"the server's answer is not valid JSON ({exc})") from None
        if not isinstance(completion, dict):
            raise InvalidResponseError("the server's answer is not a chat completion object")
        return self.output_from_completion(completion)

    def output_from_completion(self, completion: dict[str, Any]) -> ModelOutput:
        """Our :class:`ModelOutput` for a ``chat.completion`` object, from a live answer or
        the body of a Batch API output line."""
        choices = completion.get("choices")
        if not isinstance(choices, list) or not choices:
            raise InvalidResponseError("the server answered with no choices")
        parsed: list[Choice] = []
        for choice in choices:
            message = choice.get("message") if isinstance(choice, dict) else None
            content = message.get("content") if isinstance(message, dict) else None
            reason = choice.get("finish_reason") if isinstance(choice, dict) else None
            parsed.append(Choice(text=content or "", finish_reason=reason))
        usage = Usage()
        counts = completion.get("usage")
        if isinstance(counts, dict):
            usage = Usage(
                prompt_tokens=counts.get("prompt_tokens") or 0,
                completion_tokens=counts.get("completion_tokens") or 0,
                total_tokens=counts.get("total_tokens") or 0,
            )
        return ModelOutput(model=completion.get("model") or self.model, choices=parsed, usage=usage)

    def translate_error(self, exc: openai.OpenAIError) -> BackendError:
        """Our error for one of the SDK's, the API key blanked out (Batch API calls use it)."""
        return self._error(exc)

    def _error(self, exc: openai.OpenAIError) -> BackendError:
        """Our error for the SDK's, with the API key blanked out of everything it carries.

        Raised ``from None``: the SDK's exception holds the request, headers included.
        """
        error = _translate(exc)
        if self._secret:
            error.args = tuple(str(a).replace(self._secret, "***") for a in error.args)
            if error.body is not None:
                error.body = json.loads(json.dumps(error.body).replace(self._secret, "***"))
        return error


def _mentions_format(exc: openai.APIStatusError) -> bool:
    text = f"{exc.message} {exc.body}".lower()
    return any(word in text for word in ("response_format", "json_schema", "json schema"))


def _retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    if headers is None:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return float(milliseconds) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        return float(email.utils.mktime_tz(parsed) - time.time())


def _translate(exc: openai.OpenAIError) -> BackendError:
    """Map the SDK's errors onto ours, keeping status, body and Retry-After."""
    if isinstance(exc, openai.APIResponseValidationError):
        return InvalidResponseError(f"the server's answer does not fit the protocol: {exc}")
    if isinstance(exc, openai.APITimeoutError):
        return BackendTimeoutError(f"the model server timed out: {exc}")
    if isinstance(exc, openai.APIConnectionError):
        return BackendConnectionError(f"could not reach the model server: {exc}")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        kwargs: dict[str, Any] = {"status_code": status, "body": exc.body}
        message = f"HTTP {status} from the model server: {exc.message}"
        if status == 429:
            return RateLimitError(message, retry_after=_retry_after(exc.response.headers), **kwargs)
        if status in (401, 403):
            return AuthenticationError(
                message + " (check OPENAI_API_KEY / --api-key and the model's access)", **kwargs
            )
        if status >= 500:
            return ServerError(message, retry_after=_retry_after(exc.response.headers), **kwargs)
        if status in (400, 404, 413, 422):
            return BadRequestError(message, **kwargs)
        return BackendError(message, **kwargs)
    return BackendError(f"model server error: {exc}")


def _base_urls(given: str | Sequence[str] | None) -> list[str]:
    """The endpoints, checked: one URL, several, or $OPENAI_BASE_URL / the official API."""
    if given is None or isinstance(given, str):
        urls = [given or os.environ.get("OPENAI_BASE_URL") or OFFICIAL_BASE_URL]
    else:
        urls = list(given)
        if not urls:
            raise ConfigError("base_url lists no endpoint")
    checked: list[str] = []
    for url in urls:
        url = url.rstrip("/")
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(f"base URL must be http(s)://host[:port]/..., got {url!r}")
        if url not in checked:
            checked.append(url)
    return checked
