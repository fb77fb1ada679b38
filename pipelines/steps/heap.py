"""Keep Python's cyclic garbage collector off the objects a task starts with.

Before its first document a task process already holds over 100,000 objects that outlive the
task's own: modules, the config, the pipeline's steps. Each full collection walks all of them; in
a ``pdf_ocr`` task of 492 pages one such walk took 0.10-0.15 s, 2% of the task. ``freeze_heap``,
the last step of every task (``pipelines/executors.make_executor``), moves them into the
permanent generation (``gc.freeze``) when the task starts pulling documents, so collections look
only at what the task makes, and gives them back to the collector when the task ends: a process
that runs many tasks (a one-worker local run, a Ray worker) keeps no garbage frozen for good.
"""

from __future__ import annotations

import gc

from datatrove.data import DocumentsPipeline


def freeze_heap(data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
    """A pipeline callable, last in a task: passes the data through with the start-up heap frozen."""
    gc.freeze()
    try:
        yield from data or ()
    finally:
        gc.unfreeze()
