"""A small OpenAI-compatible chat-completions server on 127.0.0.1 with scripted answers and faults.

``LlmServer(script)`` serves ``POST /v1/chat/completions`` (and ``GET /v1/models``). ``script``
maps a marker string to a list of ``Reply``: a request whose messages contain the marker gets the
marker's n-th reply on its n-th request (the last one repeats), so "429 then OK" is
``[Reply(429), ok(pairs)]``. Requests matching no marker get ``default``. Counters say exactly
what was asked: ``requests`` (all), ``by_marker`` and ``statuses``.

Replies for what models and servers really do: ``ok`` (a JSON list), ``fenced`` (in a Markdown
fence), ``prose`` (text around it), ``truncated`` (cut mid-object), ``refusal``, ``code``,
``text`` (any content), ``seen`` (a caption of the request's image, right or wrong colour: a
vision-language model), ``Reply(500)`` / ``Reply(429, retry_after=0)``, ``Reply(delay=5)`` (slow:
past the client's time limit), ``Reply(body=b"{not json")`` (a 200 whose body is not JSON).
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image

from schemas.config_docmatix import LlmConfig
from synth.demo.colour_task import COLOURS


def _text_of(content) -> str:
    """The text of a message's content: a string, or the text parts of a list of parts (image
    parts stand as ``<image>``, so markers never match inside base64)."""
    if isinstance(content, list):
        return " ".join(
            p.get("text", "") if p.get("type") == "text" else "<image>"
            for p in content
            if isinstance(p, dict)
        )
    return str(content)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    content: str | None = None  # the assistant message (status 200)
    delay: float = 0.0  # seconds before answering
    body: bytes | None = None  # a raw body instead of the chat-completions JSON
    retry_after: float | str | None = None  # seconds, or an HTTP date as the header would carry it
    finish_reason: str = "stop"
    grounded: bool = False  # answer with a sentence of the prompt's first page (see `grounded`)
    vision: str | None = None  # answer from the request's image: "right" or "wrong" colour (see `seen`)


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


def grounded() -> Reply:
    """A pair whose answer is the first sentence of 6+ words on the prompt's first page: what a
    good model writes, for whatever document it is sent."""
    return Reply(grounded=True)


def _grounded_content(prompt: str) -> str:
    page = re.split(r"\nPage \d+:\n", "\n" + prompt, maxsplit=2)
    text = page[1] if len(page) > 1 else prompt
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= 6]
    answer = sentences[0] if sentences else text.strip()[:200]
    return _pairs_json([("What does the first page say?", answer)])


def seen(which: str = "right") -> Reply:
    """A caption of the request's image as a VLM writes it: "A red shape on a grey background."
    with the colour of the image's most saturated pixels (the colour task's shapes), or, with
    ``"wrong"``, another colour: a confident wrong answer."""
    return Reply(vision=which)


def image_colour(payload: dict) -> str | None:
    """The colour-task colour nearest to the most saturated pixels of the request's image."""
    for message in payload.get("messages", []):
        for part in message.get("content") if isinstance(message.get("content"), list) else []:
            url = (part.get("image_url") or {}).get("url", "") if isinstance(part, dict) else ""
            if url.startswith("data:"):
                data = base64.b64decode(url.split(",", 1)[1])
                pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int32).reshape(
                    -1, 3
                )
                saturation = pixels.max(axis=1) - pixels.min(axis=1)
                vivid = pixels[saturation >= saturation.max() / 2].mean(axis=0)
                return min(COLOURS, key=lambda name: sum((vivid - np.array(COLOURS[name])) ** 2))
    return None


def _vision_content(payload: dict, which: str) -> str:
    colour = image_colour(payload)
    if colour is None:
        return "I can't see any image in your message."
    if which == "wrong":
        names = sorted(COLOURS)
        colour = names[(names.index(colour) + 1) % len(names)]
    return f"A {colour} shape on a grey background."


def text(content: str) -> Reply:
    return Reply(content=content)


def refusal() -> Reply:
    return Reply(content="I'm sorry, but I can't help with that request.")


class LlmServer:
    def __init__(
        self,
        script: dict[str, list[Reply]] | None = None,
        default: Reply | None = None,
        models: tuple[str, ...] = (LlmConfig().model, "scripted-model"),
        reject_image=None,
    ):
        """``reject_image``: a function of the request payload; True answers 400, as a server
        does for an image it cannot read."""
        self.reject_image = reject_image
        self.models = models  # what GET /v1/models lists: the config's default and the tests' model
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
        prompt = "\n".join(_text_of(m.get("content", "")) for m in payload.get("messages", []))
        if self.reject_image is not None and self.reject_image(payload):
            with self.lock:
                self.requests += 1
                self.statuses[400] += 1
            return None, Reply(400)
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
                if self.path.rstrip("/").endswith("/models"):
                    models = [{"id": name, "object": "model"} for name in server.models]
                    return self._send(200, json.dumps({"object": "list", "data": models}).encode())
                self._send(404, b'{"error": {"message": "not found"}}')

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
                prompt = " ".join(_text_of(m.get("content", "")) for m in payload["messages"])
                if reply.vision:
                    content = _vision_content(payload, reply.vision)
                else:
                    content = _grounded_content(prompt) if reply.grounded else reply.content or ""
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
