"""OBELICS document-level filters: every rule at its threshold and per language, first failing
rule wins, skipped word lists, exclusion records; then node + language + document filters on
the real pages of shared/data/web/html."""

from __future__ import annotations

import json
import re
import time

import pytest
from datatrove.data import Document, Media
from selectolax.lexbor import LexborHTMLParser

from filters.document_filters import DOCUMENT_REASONS, DocumentQualityFilter, count_images
from filters.language import LanguageFilter, LanguageTagger
from filters.node_filters import NodeFilters
from filters.text_stats import word_ngram_repetition, words
from filters.wordlists import load_wordlist
from pipelines.steps.exclusions import ExclusionRecorder
from schemas.config_interleaved import DocFilterConfig
from schemas.records import ExclusionSummary
from schemas.samples import nodes_to_text
from tests import corpora
from tests.filter_helpers import FLAGGED, PERMISSIVE_TEXT_RULES, TEXT_RULES, run_step
from tests.test_filters_text_stats import LANGS, MORE_SENTENCES, SENTENCES

PERMISSIVE = dict(min_images=0, max_images=1000, **PERMISSIVE_TEXT_RULES)


def make_doc(
    paragraphs: list[str], lang: str | None = "en", images: int = 1, doc_id: str = "doc"
) -> Document:
    """A document of paragraphs followed by ``images`` image nodes."""
    nodes = [{"type": "text", "text": p} for p in paragraphs]
    nodes += [{"type": "image", "media": i} for i in range(images)]
    media = [Media(id=str(i), type=0, url=f"https://x.org/{i}.jpg") for i in range(images)]
    metadata = {"nodes": nodes, "url": f"https://example.org/{doc_id}"}
    if lang:
        metadata["lang"] = lang
    return Document(text=nodes_to_text(nodes), id=doc_id, media=media, metadata=metadata)


def run(docs: list[Document], cfg: DocFilterConfig | None = None, writer=None):
    return run_step(DocumentQualityFilter(cfg or DocFilterConfig(), exclusion_writer=writer), docs)


def reasons(stats: dict) -> list[str]:
    return [key.removeprefix("dropped_") for key in stats if key.startswith("dropped_")]


def probe(lang: str) -> list[str]:
    """Two real paragraphs with every statistic above zero (a repeated sentence, digits, a
    flagged word)."""
    first = SENTENCES[lang].split(". ")[0]
    return [SENTENCES[lang], f"{MORE_SENTENCES[lang]} {first}. 2019 {FLAGGED[lang]}."]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("lang", LANGS)
def test_real_documents_pass_the_default_rules(lang):
    out, stats = run([make_doc([SENTENCES[lang], MORE_SENTENCES[lang]], lang, images=2)])
    assert len(out) == 1 and "filter_value" not in out[0].metadata
    assert reasons(stats) == [] and not [key for key in stats if key.startswith("skipped")]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(  # the text rules; images are counted separately
    "field,kind,reason,measure", TEXT_RULES, ids=[rule[0] for rule in TEXT_RULES]
)
def test_each_rule_at_its_threshold(lang, field, kind, reason, measure):
    doc = make_doc(probe(lang), lang)
    value = measure(doc.text, lang)
    assert value > 0
    step = 1 if field in ("min_words", "max_words") else 1e-9
    keep_at, drop_at = (value, value - step) if kind == "max" else (value, value + step)
    for threshold, dropped in ((keep_at, False), (drop_at, True)):
        cfg = DocFilterConfig(**{**PERMISSIVE, field: threshold})
        out, stats = run([make_doc(probe(lang), lang)], cfg)
        assert reasons(stats) == ([reason] if dropped else []), (field, threshold, value)
        if dropped:
            assert stats["dropped"] == 1 and out == []


@pytest.mark.timeout(60)
def test_image_count_at_its_thresholds_counts_image_nodes():
    text = [SENTENCES["en"]]
    for images, reason in ((0, "too_few_images"), (1, None), (30, None), (31, "too_many_images")):
        doc = make_doc(text, images=images)
        assert count_images(doc) == images
        _, stats = run([doc])
        assert reasons(stats) == ([reason] if reason else []), images
    doc = make_doc(text, images=2)
    doc.metadata["nodes"] = [n for n in doc.metadata["nodes"] if n["type"] == "text"]
    assert count_images(doc) == 0  # the layout decides, not leftover media
    assert count_images(Document(text="x", id="pair", media=doc.media)) == 2


@pytest.mark.timeout(60)
@pytest.mark.parametrize("lang", LANGS)
def test_default_thresholds_just_below_and_above(lang):
    natural, more = SENTENCES[lang], MORE_SENTENCES[lang]
    tokens = words(f"{natural} {more}")
    stopwords = load_wordlist("stopwords", lang)
    content = [w for w in tokens if w not in stopwords]
    function = [w for w in tokens if w in stopwords]

    def marked(parts: list[str], marks: int) -> str:  # words with a full stop after the first `marks`
        return " ".join(w + ("." if i < marks else "") for i, w in enumerate(parts))

    cases = [
        # words: 10 is the least a document may have
        (marked(tokens[:10], 10), None),
        (marked(tokens[:9], 9), "too_few_words"),
        # flagged: 1 in 100 words is at the 1% cut-off (kept), 1 in 99 above it
        (marked(tokens[:99] + [FLAGGED[lang]], 100), None),
        (marked(tokens[:98] + [FLAGGED[lang]], 99), "flagged_words"),
        # stopwords: 7 in 20 is the 35% cut-off (kept), 6 in 20 below it
        (marked(function[:7] + content[:13], 20), None),
        (marked(function[:6] + content[:14], 20), "stopwords"),
        # punctuation: 3 marks in 100 words is the 3% cut-off (kept), 2 marks below it
        (marked(tokens[:100], 3), None),
        (marked(tokens[:100], 2), "punctuation"),
    ]
    for text, reason in cases:
        _, stats = run([make_doc([text], lang)])
        assert reasons(stats) == ([reason] if reason else []), (text, lang)


@pytest.mark.timeout(60)
def test_first_failing_rule_wins_and_its_value_is_kept():
    doc = make_doc(["Impressum Kontakt Datenschutz"], "de", images=0)
    out, stats = run([doc])
    assert out == [] and reasons(stats) == ["too_few_images"] and doc.metadata["filter_value"] == 0
    doc = make_doc(["Impressum Kontakt Datenschutz"], "de", images=1)
    run([doc])
    assert doc.metadata["filter_value"] == 3  # too_few_words, before stopwords
    assert tuple(DOCUMENT_REASONS[:4]) == (
        "too_few_images",
        "too_many_images",
        "too_few_words",
        "too_many_words",
    )


@pytest.mark.timeout(60)
def test_a_language_without_lists_skips_the_list_rules():
    italian = make_doc([SENTENCES["it"], MORE_SENTENCES["it"]], "it")
    out, stats = run([italian, make_doc([SENTENCES["it"], MORE_SENTENCES["it"]], "it", doc_id="b")])
    assert len(out) == 2
    assert stats["skipped_stopwords_it"] == 2 and stats["skipped_flagged_words_it"] == 2
    out, stats = run([make_doc([SENTENCES["it"], MORE_SENTENCES["it"]], "en")])
    assert out == [] and reasons(stats) == ["stopwords"]


@pytest.mark.timeout(60)
def test_dropped_documents_are_recorded(tmp_path):
    docs = [
        make_doc([SENTENCES["en"]], "en", images=0, doc_id="no-images"),
        make_doc([SENTENCES["de"], MORE_SENTENCES["de"]], "de", doc_id="kept"),
        make_doc([" ".join([SENTENCES["fr"]] * 4)], "fr", doc_id="repeated"),
    ]
    recorder = ExclusionRecorder(tmp_path / "_excluded", "extract", "document_filters")
    out, _ = run(docs, writer=recorder)
    assert [d.id for d in out] == ["kept"]
    path = tmp_path / "_excluded" / "extract" / "00000-document_filters.json"
    summary = ExclusionSummary.model_validate(json.loads(path.read_text()))
    assert summary.counts == {"too_few_images": 1, "word_repetition": 1}
    [record] = summary.examples["word_repetition"]
    assert record.doc_id == "repeated" and record.source == "https://example.org/repeated"
    assert record.value == pytest.approx(word_ngram_repetition(words(docs[2].text)))


_SPACE = re.compile(r"\s+")


def real_page_documents() -> list[Document]:
    """The 110 real pages as crude interleaved documents: one text node per p/h1-h3/li element,
    one image node per img, in page order."""
    pages = json.loads((corpora.require("web") / "pages.json").read_text())
    docs = []
    for name, info in sorted(pages.items()):
        tree = LexborHTMLParser(
            (corpora.require("web") / "html" / name).read_bytes().decode("utf-8", "replace")
        )
        nodes, media = [], []
        for element in tree.css("p, h1, h2, h3, li, img"):
            if element.tag == "img":
                if src := element.attributes.get("src"):
                    nodes.append({"type": "image", "media": len(media)})
                    media.append(Media(id=str(len(media)), type=0, url=src))
            elif text := _SPACE.sub(" ", element.text(separator=" ")).strip():
                nodes.append({"type": "text", "text": text})
        metadata = {"nodes": nodes, "url": info["url"]}
        docs.append(Document(text=nodes_to_text(nodes), id=name, media=media, metadata=metadata))
    return docs


@pytest.mark.corpus("web")
@pytest.mark.timeout(60)
def test_real_pages_through_node_language_and_document_filters():
    docs = real_page_documents()
    assert len(docs) == 110
    nodes_step, doc_step = NodeFilters(), DocumentQualityFilter()
    pipeline = [LanguageTagger(), nodes_step, LanguageFilter(DocFilterConfig()), doc_step]
    data = iter(docs)
    start = time.perf_counter()
    for step in pipeline:
        data = step.run(data)
    kept = list(data)
    elapsed = time.perf_counter() - start
    node_stats = {key: stat.total for key, stat in nodes_step.stats.stats.items()}
    doc_stats = {key: stat.total for key, stat in doc_step.stats.stats.items()}
    for doc in docs:  # every document, kept or not, stays consistent
        nodes = doc.metadata["nodes"]
        assert doc.text == nodes_to_text(nodes)
        assert [n["media"] for n in nodes if n["type"] == "image"] == list(range(len(doc.media)))
    for kind in ("paragraphs", "images"):
        dropped = sum(v for k, v in node_stats.items() if k.startswith(f"{kind}_dropped_"))
        assert node_stats[f"{kind}_in"] - node_stats[f"{kind}_out"] == dropped > 0
    assert node_stats["paragraphs_out"] > 0.1 * node_stats["paragraphs_in"]
    assert 30 <= len(kept) < 110, (len(kept), reasons(doc_stats))
    assert {doc.metadata["lang"] for doc in kept} == {"en", "de", "fr"}
    assert not [key for key in node_stats if key.startswith("skipped")]
    assert elapsed < 30
