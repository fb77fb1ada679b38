"""A watchdog for PDF pages: pages are rendered and transcribed in a child process that is killed
when a page runs past its time limit.

MuPDF does its work in C calls that Python cannot interrupt: a signal handler runs only once the
call returns, and a page with millions of drawing operations or a decompression bomb can keep a
call busy for minutes. ``PageWorker`` sends each page to a child process (``serve``) and waits
for its answer at most ``render.page_timeout_s``; past that it kills the child (SIGKILL), the
page is dropped as ``page_timeout``, and a new child takes the next page. A child that dies
(MuPDF crashing on a broken file) costs its page (``page_error``), not the task.

The child is forked from the task process when that process runs no other threads that matter
(the local executor's tasks: a fork costs about a millisecond and no import), and started from a
fork server elsewhere (Ray's worker processes hold gRPC threads that a plain fork must not copy;
the first start there imports pymupdf once, about a second). It ties its life to the task's
(``lifeline.tie_to_parent``) and logs nothing: its warnings travel back with the page.
"""

from __future__ import annotations

import multiprocessing
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from datatrove.data import Document, Media, MediaType

START_TIMEOUT_S = 120  # a fork server's first start imports pymupdf and numpy: seconds on a busy node
# (reason, text, metadata, image bytes, counters, warning, seconds): what the child sends back
PageResult = tuple[str | None, str, dict, bytes | None, list[str], str | None, float]


def _context():
    """fork in a task process without Ray, else a fork server (see the module docstring)."""
    ray = sys.modules.get("ray")
    if sys.platform.startswith("linux") and not (ray is not None and ray.is_initialized()):
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["pipelines.steps.pdf.pdf_pages"])
    return context


def serve(conn, make_step: Callable[[], Any]) -> None:
    """The child's loop: ``("open", bytes)`` opens a PDF, ``("page", number, document, published)``
    renders and transcribes one page of it into the document and answers a ``PageResult``.
    ``make_step`` builds the in-process ``PdfPages`` that does the work (given by the parent, so
    this module does not import the step that imports it)."""
    import pymupdf

    from pipelines.steps.lifeline import tie_to_parent

    tie_to_parent()
    pymupdf.TOOLS.mupdf_display_errors(False)
    step = make_step()
    counters: list[str] = []
    step.stat_update = lambda *names, **_: counters.extend(names)  # sent back to the parent's stats
    # a thread takes the requests off the pipe as they come: while this process writes a large
    # answer (an OCR render is megabytes), the parent may be writing the next request (a PDF),
    # and with neither side reading, both would wait for ever
    requests: queue.SimpleQueue = queue.SimpleQueue()

    def read() -> None:
        try:
            while True:
                requests.put(conn.recv())
        except (EOFError, OSError):  # the parent is gone
            requests.put(None)

    conn.send("ready")  # the parent's clock for the first page starts now, not at the fork
    threading.Thread(target=read, daemon=True).start()
    pdf = None
    while True:
        message = requests.get()
        if message is None:
            return
        if message[0] == "open":
            if pdf is not None:
                pdf.close()
            try:
                pdf = pymupdf.open(stream=message[1], filetype="pdf")
            except Exception as error:
                pdf = error
            continue
        _, number, out, published = message
        counters.clear()
        reason, warning = None, None
        start = time.perf_counter()
        try:
            if isinstance(pdf, Exception):
                raise pdf
            reason, pending = step._render(pdf, number, out, published)
            if reason is None and pending is not None:
                reason, _ = step._transcribe(out, pending)
        except Exception as error:  # MuPDF raises on broken content streams, fonts, images
            reason, warning = "page_error", f"{type(error).__name__}: {error}"
        image = out.media[0].media_bytes if out.media else None
        conn.send(
            (reason, out.text, out.metadata, image, list(counters), warning, time.perf_counter() - start)
        )


@dataclass
class _Sent:
    key: Any  # names the PDF
    data: bytes
    number: int
    out: Document
    published: dict | None
    at: float  # when it was sent


class PageWorker:
    """The parent's side: one child at a time, started on first use and after each kill. Pages
    are answered in the order they were submitted; ``PdfPages`` keeps one page submitted ahead,
    so the child renders the next page while the task's later steps handle this one."""

    def __init__(self, make_step: Callable[[], Any], limit: float):
        """``make_step``: a picklable callable that builds the child's in-process step."""
        self.make_step = make_step
        self.limit = limit
        self.process = None
        self.conn = None
        self.opened: Any = None  # the key of the PDF open in the child
        self.queue: deque[_Sent] = deque()  # submitted, not answered yet
        self.answered_at = 0.0  # when the last answer came: the child started the next page then
        self.starts = 0

    def _start(self) -> None:
        context = _context()
        parent, child = context.Pipe()
        self.process = context.Process(target=serve, args=(child, self.make_step), daemon=True)
        self.process.start()
        child.close()
        if not parent.poll(START_TIMEOUT_S) or parent.recv() != "ready":
            self.process.kill()
            raise RuntimeError(f"the PDF page worker did not start within {START_TIMEOUT_S} s")
        self.conn, self.opened = parent, None
        self.starts += 1
        self.answered_at = time.perf_counter()  # pages waiting for this child start now
        for sent in self.queue:  # what the last child left unanswered
            self._send(sent)

    def _send(self, sent: _Sent) -> None:
        if self.opened != sent.key:
            self.conn.send(("open", sent.data))
            self.opened = sent.key
        self.conn.send(("page", sent.number, sent.out, sent.published))

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.join()
            self.conn.close()
        self.process = self.conn = self.opened = None

    def submit(self, key: Any, data: bytes, number: int, out: Document, published: dict | None) -> None:
        """Ask for page ``number`` of the PDF ``data`` (``key`` names it; the PDF is sent to the
        child once for all its pages), rendered and transcribed into ``out``."""
        sent = _Sent(key, data, number, out, published, time.perf_counter())
        self.queue.append(sent)
        if self.process is None:
            self._start()  # sends the whole queue
            return
        try:
            self._send(sent)
        except (BrokenPipeError, OSError):  # the child died: the next answer tells
            pass

    def answer(self) -> tuple[Document, str | None, list[str], str | None, float]:
        """The oldest submitted page: (its document, drop reason or None, the step's counters, a
        warning or None, seconds it took). A page gets ``limit`` seconds from when the child
        could start it; past that the child is killed and the page is ``page_timeout``."""
        sent = self.queue[0]
        start = max(sent.at, self.answered_at)
        try:
            if not self.conn.poll(max(0.0, start + self.limit - time.perf_counter())):
                self.queue.popleft()
                self.stop()
                spent = time.perf_counter() - start
                if self.queue:
                    self._start()
                return sent.out, "page_timeout", [], None, spent
            reason, text, metadata, image, counters, warning, seconds = self.conn.recv()
        except (EOFError, OSError) as error:  # the child died with the page
            code = self.process.exitcode if self.process is not None else None
            self.queue.popleft()
            self.stop()
            if self.queue:
                self._start()
            return sent.out, "page_error", [], f"the page worker died ({error or 'exit code'} {code})", 0.0
        self.queue.popleft()
        self.answered_at = time.perf_counter()
        out = sent.out
        out.text, out.metadata = text, metadata
        if image is not None:
            out.media = [Media(id=out.id, type=MediaType.IMAGE, url=None, media_bytes=image)]
        return out, reason, counters, warning, seconds  # as the child measured it
