"""A small OpenAI-compatible chat-completions server on 127.0.0.1 with scripted answers and faults.

``LlmServer(script)`` serves ``POST /v1/chat/completions`` (and ``GET /v1/models``). ``script``
maps a marker string to a list of ``Reply``: a request whose messages contain the marker gets the
marker's n-th reply on its n-th request (the last one repeats), so "429 then OK" is
``[Reply(429), ok(pairs)]``. Requests matching no marker get ``default``. Counters say exactly
what was asked: ``requests`` (all), ``by_marker`` and ``statuses``.

Replies for what models and servers really do: ``ok`` (a JSON list), ``fenced`` (in a Markdown
fence), ``prose`` (text around it), ``truncated`` (cut mid-object), ``refusal``, ``code``,
``text`` (any content), ``Reply(500)`` / ``Reply(429, retry_after=0)``, ``Reply(delay=5)`` (slow:
past the client's time limit), ``Reply(body=b"{not json")`` (a 200 whose body is not JSON).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    status: int = 200
    content: str | None = None  # the assistant message (status 200)
    delay: float = 0.0  # seconds before answering
    body: bytes | None = None  # a raw body instead of the chat-completions JSON
    retry_after: float | None = None
    finish_reason: str = "stop"


def _pairs_json(pairs) -> str:
    return json.dumps([{"question": q, "answer": a} for q, a in pairs])


def ok(pairs) -> Reply:
    return Reply(content=_pairs_json(pairs))


def fenced(pairs) -> Reply:
    return Reply(content=f"```json\n{_pairs_json(pairs)}\n```")


def prose(pairs) -> Reply:
    return Reply(
        content=f"Here are the pairs you asked for:\n{_pairs_json(pairs)}\nLet me know if you need more!"
    )


def truncated(pairs) -> Reply:
    """The list cut in the middle of the last object, as when max_tokens runs out."""
    full = _pairs_json(pairs)
    return Reply(content=full[: full.rfind('"answer"') + 12], finish_reason="length")


def text(content: str) -> Reply:
    return Reply(content=content)


def refusal() -> Reply:
    return Reply(content="I'm sorry, but I can't help with that request.")


class LlmServer:
    def __init__(self, script: dict[str, list[Reply]] | None = None, default: Reply | None = None):
        self.script = dict(script or {})
        self.default = default or ok([("What is this document about?", "A test document.")])
        self.requests = 0
        self.by_marker: Counter = Counter()
        self.statuses: Counter = Counter()
        self.payloads: list[dict] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> LlmServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset_counters(self) -> None:
        with self.lock:
            self.requests = 0
            self.by_marker.clear()
            self.statuses.clear()
            self.payloads.clear()

    def _choose(self, payload: dict) -> tuple[str | None, Reply]:
        prompt = "\n".join(str(m.get("content", "")) for m in payload.get("messages", []))
        with self.lock:
            self.requests += 1
            self.payloads.append(payload)
            for marker, replies in self.script.items():
                if marker in prompt:
                    n = self.by_marker[marker]
                    self.by_marker[marker] += 1
                    reply = replies[min(n, len(replies) - 1)]
                    break
            else:
                marker, reply = None, self.default
                self.by_marker[None] += 1
            self.statuses[reply.status] += 1
        return marker, reply

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its time limit)

            def do_GET(self) -> None:
                self._send(200, json.dumps({"data": [{"id": "scripted"}]}).encode())

            def do_POST(self) -> None:
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                _, reply = server._choose(payload)
                if reply.delay:
                    time.sleep(reply.delay)
                headers = {"Retry-After": str(reply.retry_after)} if reply.retry_after is not None else {}
                if reply.body is not None:
                    return self._send(reply.status, reply.body, headers)
                if reply.status != 200:
                    return self._send(reply.status, b'{"error": {"message": "scripted failure"}}', headers)
                prompt = " ".join(str(m.get("content", "")) for m in payload["messages"])
                content = reply.content or ""
                body = {
                    "id": "chatcmpl-scripted",
                    "object": "chat.completion",
                    "model": payload.get("model"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": reply.finish_reason,
                        }
                    ],
                    "usage": {
                        "prompt_tokens": len(prompt.split()),
                        "completion_tokens": len(content.split()),
                        "total_tokens": len(prompt.split()) + len(content.split()),
                    },
                }
                self._send(200, json.dumps(body).encode(), headers)

        return Handler
