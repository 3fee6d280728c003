"""A local OpenAI Files + Batches API on 127.0.0.1 that answers with recorded model text.

It extends :class:`tests.replay_server.ReplayServer` (same photo matching, same answers) with
the endpoints the Batch API uses, over real HTTP, so the official ``openai`` SDK drives it:

* ``POST /v1/files`` (multipart upload), ``GET /v1/files``, ``GET /v1/files/{id}``,
  ``GET /v1/files/{id}/content``;
* ``POST /v1/batches``, ``GET /v1/batches`` (cursor pages), ``GET /v1/batches/{id}``,
  ``POST /v1/batches/{id}/cancel``.

A batch moves one state per retrieval: ``validating -> in_progress -> finalizing ->
completed`` (or ``failed`` when its input does not validate). Knobs: ``fail_images`` makes a
photo's requests fail (HTTP 500 lines in the error file) that many times; ``expire_batches``
expires the next N batches after ``expire_after`` requests ran (the rest are ``batch_expired``
errors); ``cancel_batches`` cancels the next N batches once in progress, as an operator would
(``cancelling -> cancelled``, the rest ``batch_cancelled``); ``reject_batches`` fails the next
N batches in validation (an enqueued-token limit, as the API does); ``upload_latency`` slows
every upload down (stored after the wait even if the client has gone); ``hold`` keeps every
batch ``in_progress`` while set; queued faults (``queue(Fault(...))``) answer the next Files or
Batches requests. Uploads, creations and cancellations are recorded for the tests.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.replay_server import ReplayCorpus, ReplayServer

ENDPOINTS = {"/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions"}
TERMINAL = {"completed", "failed", "expired", "cancelled"}


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }


@dataclass
class StoredBatch:
    body: dict[str, Any]
    lines: list[dict[str, Any]] = field(default_factory=list)
    #: what happens to it: "complete", "expire" or "cancel"
    fate: str = "complete"
    errors: list[dict[str, Any]] = field(default_factory=list)


class BatchServer(ReplayServer):
    """Start with ``with BatchServer(corpus) as server: server.base_url``."""

    def __init__(self, corpus: ReplayCorpus, *, port: int = 0) -> None:
        super().__init__(corpus, port=port)
        self._lock = threading.RLock()  # type: ignore[assignment]  # answer() takes it too
        self.files: dict[str, StoredFile] = {}
        self.batches: dict[str, StoredBatch] = {}
        self.uploads: list[str] = []
        self.creations: list[str] = []
        self.retrievals = 0
        self.cancels: list[str] = []
        self.fail_images: dict[str, int] = {}
        self.expire_batches = 0
        self.expire_after = 0
        self.cancel_batches = 0
        self.reject_batches = 0
        #: seconds each upload waits after it was received and before it is stored
        self.upload_latency = 0.0
        self.uploads_started = 0
        self.hold = threading.Event()
        self._ids = 0

    def _new_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self._ids:05d}"

    # -- files ------------------------------------------------------------------------------

    def upload(self, content_type: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + raw)
        if not message.is_multipart():
            return 400, _error("expected a multipart/form-data upload")
        fields: dict[str, Any] = {}
        filename = "upload.jsonl"
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True)
            if name == "file":
                filename = part.get_filename() or filename
            fields[str(name)] = data
        if "file" not in fields or "purpose" not in fields:
            return 400, _error("'file' and 'purpose' are required")
        purpose = fields["purpose"].decode()
        if purpose == "batch" and not filename.endswith(".jsonl"):
            return 400, _error("batch files must be .jsonl")
        with self._lock:
            self.uploads_started += 1
        time.sleep(self.upload_latency)
        with self._lock:
            stored = StoredFile(
                self._new_id("file"), filename, purpose, fields["file"], int(time.time())
            )
            self.files[stored.id] = stored
            self.uploads.append(stored.id)
        return 200, stored.info()

    def _add_file(self, filename: str, purpose: str, lines: list[dict[str, Any]]) -> str:
        data = "".join(json.dumps(line) + "\n" for line in lines).encode()
        stored = StoredFile(self._new_id("file"), filename, purpose, data, int(time.time()))
        self.files[stored.id] = stored
        return stored.id

    # -- batches ----------------------------------------------------------------------------

    def create_batch(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        endpoint = request.get("endpoint")
        if endpoint not in ENDPOINTS:
            return 400, _error(f"unsupported endpoint {endpoint!r}")
        if request.get("completion_window") != "24h":
            return 400, _error("completion_window must be '24h'")
        with self._lock:
            source = self.files.get(str(request.get("input_file_id")))
            if source is None or source.purpose != "batch":
                return 400, _error("input_file_id is not a file uploaded with purpose 'batch'")
            now = int(time.time())
            batch_id = self._new_id("batch")
            body: dict[str, Any] = {
                "id": batch_id,
                "object": "batch",
                "endpoint": endpoint,
                "errors": None,
                "input_file_id": source.id,
                "completion_window": "24h",
                "status": "validating",
                "output_file_id": None,
                "error_file_id": None,
                "created_at": now,
                "in_progress_at": None,
                "expires_at": now + 86400,
                "finalizing_at": None,
                "completed_at": None,
                "failed_at": None,
                "expired_at": None,
                "cancelling_at": None,
                "cancelled_at": None,
                "request_counts": {"total": 0, "completed": 0, "failed": 0},
                "metadata": request.get("metadata"),
            }
            stored = StoredBatch(body)
            if self.expire_batches > 0:
                self.expire_batches -= 1
                stored.fate = "expire"
            elif self.cancel_batches > 0:
                self.cancel_batches -= 1
                stored.fate = "cancel"
            self._validate(stored, source)
            if self.reject_batches > 0 and not stored.errors:
                self.reject_batches -= 1
                model = stored.lines[0]["body"]["model"]
                message = (
                    f"Enqueued token limit reached for {model} in organization org-test. "
                    "Limit: 90,000 enqueued tokens."
                )
                stored.errors.append(
                    {"code": "token_limit_exceeded", "message": message, "line": None}
                )
            self.batches[batch_id] = stored
            self.creations.append(batch_id)
        return 200, body

    def _validate(self, stored: StoredBatch, source: StoredFile) -> None:
        models: set[str] = set()
        seen: set[str] = set()
        for number, text in enumerate(source.data.decode().splitlines(), start=1):
            try:
                line = json.loads(text)
                custom_id = line["custom_id"]
                ok = line["method"] == "POST" and line["url"] == stored.body["endpoint"]
                models.add(line["body"]["model"])
            except (ValueError, KeyError, TypeError):
                ok, custom_id = False, None
            if not ok or custom_id in seen:
                message = "duplicate custom_id" if custom_id in seen else "invalid request line"
                stored.errors.append(
                    {"code": "invalid_request", "message": message, "line": number}
                )
            seen.add(custom_id)
            stored.lines.append(line if ok else {})
        if len(models) > 1:
            stored.errors.append(
                {"code": "mixed_models", "message": "all requests must use one model", "line": None}
            )
        stored.body["request_counts"]["total"] = len(stored.lines)

    def retrieve(self, batch_id: str, *, advance: bool = True) -> tuple[int, dict[str, Any]]:
        with self._lock:
            stored = self.batches.get(batch_id)
            if stored is None:
                return 404, _error(f"no batch {batch_id!r}")
            if advance:
                self.retrievals += 1
                self._advance(stored)
            return 200, stored.body

    def cancel(self, batch_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            stored = self.batches.get(batch_id)
            if stored is None:
                return 404, _error(f"no batch {batch_id!r}")
            body = stored.body
            if body["status"] in TERMINAL:
                return 409, _error(f"cannot cancel a batch that is {body['status']}")
            self.cancels.append(batch_id)
            body["status"] = "cancelling"
            body["cancelling_at"] = int(time.time())
            return 200, body

    def list_batches(self, query: dict[str, list[str]]) -> dict[str, Any]:
        limit = int(query.get("limit", ["20"])[0])
        after = query.get("after", [None])[0]
        with self._lock:
            ordered = sorted(self.batches.values(), key=lambda b: b.body["id"], reverse=True)
            ids = [b.body["id"] for b in ordered]
            start = ids.index(after) + 1 if after in ids else 0
            page = [b.body for b in ordered[start : start + limit]]
            more = start + limit < len(ordered)
        return {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": more,
        }

    def _advance(self, stored: StoredBatch) -> None:
        body = stored.body
        now = int(time.time())
        status = body["status"]
        if status == "validating":
            if stored.errors:
                body.update(status="failed", failed_at=now)
                body["errors"] = {"object": "list", "data": stored.errors}
            else:
                body.update(status="in_progress", in_progress_at=now)
        elif status == "in_progress" and not self.hold.is_set():
            if stored.fate == "cancel":
                body.update(status="cancelling", cancelling_at=now)
            else:
                body.update(status="finalizing", finalizing_at=now)
        elif status == "finalizing":
            if stored.fate == "expire":
                self._run(stored, limit=self.expire_after, code="batch_expired")
                body.update(status="expired", expired_at=now)
            else:
                self._run(stored, limit=None, code="")
                body.update(status="completed", completed_at=now)
        elif status == "cancelling":
            self._run(stored, limit=len(stored.lines) // 2, code="batch_cancelled")
            body.update(status="cancelled", cancelled_at=now)

    def _run(self, stored: StoredBatch, *, limit: int | None, code: str) -> None:
        """Answer the batch's lines (the first ``limit`` of them) and write its files."""
        outputs: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for index, line in enumerate(stored.lines):
            entry: dict[str, Any] = {
                "id": self._new_id("batch_req"),
                "custom_id": line["custom_id"],
            }
            if limit is not None and index >= limit:
                text = {
                    "batch_expired": "This request could not be executed before the "
                    "completion window expired.",
                    "batch_cancelled": "This request was not executed because the batch "
                    "was cancelled.",
                }[code]
                errors.append({**entry, "response": None, "error": {"code": code, "message": text}})
                continue
            status, answer = self.answer(line["body"])
            name = self.matched[-1] if status == 200 else ""
            if self.fail_images.get(name, 0) > 0:
                self.fail_images[name] -= 1
                status = 500
                answer = _error("The server had an error while processing your request.")
                answer["error"]["type"] = "server_error"
            response = {"status_code": status, "request_id": self._new_id("req"), "body": answer}
            target = outputs if status == 200 else errors
            target.append({**entry, "response": response, "error": None})
        batch_id = stored.body["id"]
        if outputs:
            name = f"{batch_id}_output.jsonl"
            stored.body["output_file_id"] = self._add_file(name, "batch_output", outputs)
        if errors:
            name = f"{batch_id}_error.jsonl"
            stored.body["error_file_id"] = self._add_file(name, "batch_output", errors)
        stored.body["request_counts"].update(completed=len(outputs), failed=len(errors))

    # -- HTTP -------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        base: Any = super()._handler()
        server = self

        class Handler(base):  # type: ignore[misc,valid-type]
            def _fault(self) -> bool:
                """Send the next queued fault instead of the answer, if there is one."""
                with server._lock:
                    fault = server.faults.popleft() if server.faults else None
                if fault is None:
                    return False
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                body = fault.body or _error(f"injected {fault.status}")
                self._send(fault.status, body, fault.headers, fault.cut_after)
                return True

            def do_GET(self) -> None:
                if self._fault():
                    return
                url = urlparse(self.path)
                parts = url.path.rstrip("/").split("/")[2:]  # after "/v1"
                if parts == ["files"]:
                    purpose = parse_qs(url.query).get("purpose", [None])[0]
                    with server._lock:
                        data = [
                            f.info()
                            for f in server.files.values()
                            if purpose is None or f.purpose == purpose
                        ]
                    self._send(200, {"object": "list", "data": data, "has_more": False})
                elif len(parts) == 2 and parts[0] == "files":
                    stored = server.files.get(parts[1])
                    self._send(*((200, stored.info()) if stored else (404, _error("no file"))))
                elif len(parts) == 3 and parts[0] == "files" and parts[2] == "content":
                    stored = server.files.get(parts[1])
                    if stored is None:
                        self._send(404, _error("no file"))
                    else:
                        self._send(200, stored.data)
                elif parts == ["batches"]:
                    self._send(200, server.list_batches(parse_qs(url.query)))
                elif len(parts) == 2 and parts[0] == "batches":
                    self._send(*server.retrieve(parts[1]))
                else:
                    super().do_GET()

            def do_POST(self) -> None:
                path = urlparse(self.path).path.rstrip("/")
                parts = path.split("/")[2:]
                if parts[:1] in (["files"], ["batches"]) and self._fault():
                    return
                if parts == ["files"]:
                    raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                    self._send(*server.upload(self.headers.get("Content-Type", ""), raw))
                elif parts == ["batches"]:
                    raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                    self._send(*server.create_batch(json.loads(raw)))
                elif len(parts) == 3 and parts[0] == "batches" and parts[2] == "cancel":
                    self.rfile.read(int(self.headers.get("Content-Length", "0")))
                    self._send(*server.cancel(parts[1]))
                else:
                    super().do_POST()

        return Handler


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None}}
