"""OBELICS node-level filters: every paragraph rule at its threshold, per language, the image
rules, media renumbering with doc.text in step, skipped word lists and exclusion records."""

from __future__ import annotations

import json

import pytest
from datatrove.data import Document, Media

from filters.node_filters import PARAGRAPH_REASONS, NodeFilters, url_extension
from filters.text_stats import char_ngram_repetition, special_char_ratio, word_list_ratio, words
from filters.wordlists import load_wordlist
from pipelines.steps.exclusions import ExclusionRecorder
from schemas.config_interleaved import NodeFilterConfig
from schemas.records import ExclusionSummary
from schemas.samples import nodes_to_text
from tests.filter_helpers import FLAGGED, PERMISSIVE_TEXT_RULES, TEXT_RULES, run_step
from tests.test_filters_text_stats import LANGS, MORE_SENTENCES, SENTENCES

# Every rule off: a boundary test turns one rule on at the measured value.
PERMISSIVE = dict(**PERMISSIVE_TEXT_RULES, punctuation_min_words=0, max_spam_word_ratio=1)
SPAM = ("newsletter", "cookies", "facebook")  # on the spam list of en, de and fr


def make_doc(items: list, lang: str | None = "en", doc_id: str = "doc") -> Document:
    """A document from paragraphs (str) and images (Media), in order."""
    nodes, media = [], []
    for item in items:
        if isinstance(item, Media):
            nodes.append({"type": "image", "media": len(media)})
            media.append(item)
        else:
            nodes.append({"type": "text", "text": item})
    metadata = {"nodes": nodes, "url": f"https://example.org/{doc_id}"}
    if lang:
        metadata["lang"] = lang
    return Document(text=nodes_to_text(nodes), id=doc_id, media=media, metadata=metadata)


def image(url: str) -> Media:
    return Media(id=url, type=0, url=url)


def run(docs: list[Document], cfg: NodeFilterConfig | None = None, writer=None):
    return run_step(NodeFilters(cfg or NodeFilterConfig(), exclusion_writer=writer), docs)


def kept_texts(doc: Document) -> list[str]:
    return [node["text"] for node in doc.metadata["nodes"] if node["type"] == "text"]


def probe(lang: str) -> str:
    """A real paragraph with every statistic above zero: a repeated sentence, a digit, a flagged
    and a spam word."""
    text = SENTENCES[lang]
    first = text.split(". ")[0]
    return f"{text} {first}. 2019 {FLAGGED[lang]} {SPAM[0]}."


# The shared text rules, then spam, which drops at its value.
RULES = [
    *TEXT_RULES,
    (
        "max_spam_word_ratio",
        "spam",
        "spam_words",
        lambda t, lang: word_list_ratio(words(t), load_wordlist("spam", lang)),
    ),
]


@pytest.mark.timeout(60)
def test_every_paragraph_reason_has_a_threshold_test():
    assert [rule[2] for rule in RULES] == list(PARAGRAPH_REASONS)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("lang", LANGS)
def test_real_paragraphs_pass_the_default_rules(lang):
    doc = make_doc(
        [SENTENCES[lang], image("https://cdn.example.org/a/photo.jpg"), MORE_SENTENCES[lang]], lang
    )
    [out], stats = run([doc])
    assert kept_texts(out) == [SENTENCES[lang], MORE_SENTENCES[lang]]
    assert stats["paragraphs_in"] == stats["paragraphs_out"] == 2
    assert stats["images_in"] == stats["images_out"] == 1
    assert not [key for key in stats if "dropped" in key or key.startswith("skipped")]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("field,kind,reason,measure", RULES, ids=[rule[0] for rule in RULES])
def test_each_rule_at_its_threshold(lang, field, kind, reason, measure):
    text = probe(lang)
    value = measure(text, lang)
    assert value > 0
    is_int = field.endswith("_words") and not field.endswith("ratio")
    step = 1 if is_int else 1e-9
    if kind == "max":  # kept at the value, dropped just below it
        keep_at, drop_at = value, value - step
    elif kind == "min":  # kept at the value, dropped just above it
        keep_at, drop_at = value, value + step
    else:  # spam: dropped once the share reaches the cut-off
        keep_at, drop_at = value + step, value
    for threshold, dropped in ((keep_at, False), (drop_at, True)):
        cfg = NodeFilterConfig(**{**PERMISSIVE, field: threshold})
        [out], stats = run([make_doc([text], lang)], cfg)
        assert (kept_texts(out) == []) is dropped, (field, threshold, value)
        assert stats.get(f"paragraphs_dropped_{reason}", 0) == int(dropped)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("lang", LANGS)
def test_default_thresholds_just_below_and_above(lang):
    natural, more = SENTENCES[lang], MORE_SENTENCES[lang]
    tokens = words(natural)
    long_tokens = words(f"{natural} {more}")
    assert len(long_tokens) >= 100
    stopwords = load_wordlist("stopwords", lang)
    content = [w for w in tokens if w not in stopwords]
    function = [w for w in tokens if w in stopwords]
    repeated_sentence = f"{natural} {more} {natural.split('. ')[0]}."
    assert char_ngram_repetition(repeated_sentence) <= 0.1  # so that the word rule speaks
    cases = {
        # words: 4 is the least a paragraph may have
        " ".join(tokens[:4]) + ".": None,
        " ".join(tokens[:3]) + ".": "too_few_words",
        # flagged: 1 in 100 words is at the 1% cut-off (kept), 1 in 99 above it
        " ".join(long_tokens[:99]) + f" {FLAGGED[lang]}.": None,
        " ".join(long_tokens[:98]) + f" {FLAGGED[lang]}.": "flagged_words",
        # spam: 3 in 26 words is under 12%, 3 in 25 reaches it
        " ".join(tokens[:23]) + ". " + " ".join(SPAM): None,
        " ".join(tokens[:22]) + ". " + " ".join(SPAM): "spam_words",
        # stopwords: 3 in 10 is enough, 2 in 10 is not (no punctuation check under 12 words)
        " ".join(function[:3] + content[:7]): None,
        " ".join(function[:2] + content[:8]): "stopwords",
        # punctuation: 12 words need a mark, 11 don't
        " ".join(tokens[:11]): None,
        " ".join(tokens[:12]): "punctuation",
        # special characters: a timestamp line is mostly digits and signs
        "8. April 2019 @ 17:34 Uhr": "special_characters",
        # repetition: a short phrase over and over; a repeated sentence in a long paragraph
        " ".join([" ".join(tokens[:3]) + "!"] * 8): "char_repetition",
        repeated_sentence: "word_repetition",
    }
    cfg = NodeFilterConfig()
    for text, reason in cases.items():
        [out], stats = run([make_doc([text], lang)], cfg)
        dropped = [
            key.removeprefix("paragraphs_dropped_") for key in stats if key.startswith("paragraphs_dropped_")
        ]
        assert dropped == ([reason] if reason else []), (text, lang)


@pytest.mark.timeout(60)
def test_a_language_without_lists_skips_the_list_rules_and_counts_once_per_document():
    italian = [SENTENCES["it"], MORE_SENTENCES["it"]]
    [out], stats = run([make_doc(italian, "it")])
    assert kept_texts(out) == italian
    for rule in ("stopwords", "flagged_words", "spam_words"):
        assert stats[f"skipped_{rule}_it"] == 1
    # with English lists the same Italian text has almost no stopwords: the rule is live
    [out], stats = run([make_doc(italian, "en")])
    assert kept_texts(out) == [] and stats["paragraphs_dropped_stopwords"] == 2
    # no language at all: skipped as "und", never applied with some other list
    [out], stats = run([make_doc(italian, None)])
    assert kept_texts(out) == italian and stats["skipped_stopwords_und"] == 1


@pytest.mark.timeout(60)
def test_image_rules():
    assert url_extension("https://x.org/a/b.JPG?w=300#top") == "jpg"
    assert url_extension("https://x.org/img/12345") == ""
    assert url_extension("https://x.org/v1.2/render.php?id=3") == "php"
    assert url_extension("https://x.org/a.gif;jsessionid=1") == "gif"
    assert url_extension("data:image/svg+xml;base64,PHN2Zz4=") == "svg+xml"
    assert url_extension("data:image/gif;base64,R0lGOD") == "gif"
    urls = {
        "https://x.org/photos/harbour.jpg": None,
        "https://x.org/photos/harbour.webp?w=800": None,
        "https://x.org/render?id=12": None,  # no extension: kept
        "https://x.org/photo.php?id=12": None,  # not an image extension: kept
        "https://x.org/assets/Site-LOGO.png": "url_blocklist",
        "https://x.org/wp-content/plugins/lazy/placeholder.jpg": "url_blocklist",
        "https://x.org/social/share-button.svg": "url_blocklist",
        "https://x.org/anim/banner.gif": "format",
        "https://x.org/vector/map.svg": "format",
        "https://x.org/scan/page.TIFF": "format",
    }
    doc = make_doc([SENTENCES["en"], *map(image, urls)])
    [out], stats = run([doc])
    assert [m.url for m in out.media] == [url for url, reason in urls.items() if reason is None]
    assert stats["images_dropped_url_blocklist"] == 3 and stats["images_dropped_format"] == 3
    assert stats["images_in"] == 10 and stats["images_out"] == 4


@pytest.mark.timeout(60)
def test_media_renumbered_and_text_in_step():
    a, b, c = SENTENCES["en"], "Read more here.", MORE_SENTENCES["en"]
    media = [image(u) for u in ("https://x.org/logo.png", "https://x.org/p1.jpg", "https://x.org/p2.gif")]
    media.append(image("https://x.org/p3"))
    doc = make_doc([a, media[0], b, media[1], media[2], c, media[3]])
    [out], stats = run([doc])
    assert out.metadata["nodes"] == [
        {"type": "text", "text": a},
        {"type": "image", "media": 0},
        {"type": "text", "text": c},
        {"type": "image", "media": 1},
    ]
    assert out.media == [media[1], media[3]]
    assert out.text == nodes_to_text(out.metadata["nodes"]) == f"{a}\n\n{c}"
    assert stats["paragraphs_dropped_too_few_words"] == 1


@pytest.mark.timeout(60)
def test_untouched_emptied_and_layout_free_documents():
    good = make_doc([SENTENCES["fr"], image("https://x.org/a.jpg")], "fr")
    nodes, text = good.metadata["nodes"], good.text
    emptied = make_doc(["Menu", image("https://x.org/icon.png")], "fr", "emptied")
    plain = Document(text="no layout", id="plain")
    out, stats = run([good, emptied, plain])
    assert [d.id for d in out] == ["doc", "emptied", "plain"]  # every document goes on
    assert out[0].metadata["nodes"] is nodes and out[0].text is text
    assert out[1].metadata["nodes"] == [] and out[1].text == "" and out[1].media == []
    assert out[2].text == "no layout" and stats["documents_without_nodes"] == 1


@pytest.mark.timeout(60)
def test_dropped_nodes_are_recorded_with_reason_value_and_source(tmp_path):
    media = image("https://x.org/img/logo.png")
    media.media_bytes = None
    doc = make_doc([SENTENCES["de"], "Impressum", media, "8. April 2019 @ 17:34 Uhr"], "de", "page-7")
    recorder = ExclusionRecorder(tmp_path / "_excluded", "extract", "node_filters", reservoir_size=4)
    run([doc], writer=recorder)
    path = tmp_path / "_excluded" / "extract" / "00000-node_filters.json"
    summary = ExclusionSummary.model_validate(json.loads(path.read_text()))
    assert summary.counts == {
        "paragraph_too_few_words": 1,
        "image_url_blocklist": 1,
        "paragraph_special_characters": 1,
    }
    [short] = summary.examples["paragraph_too_few_words"]
    assert (short.doc_id, short.value, short.snippet, short.source) == (
        "page-7#1",
        1,
        "Impressum",
        "https://example.org/page-7",
    )
    [logo] = summary.examples["image_url_blocklist"]
    assert (logo.doc_id, logo.value, logo.snippet) == ("page-7#2", "logo", "https://x.org/img/logo.png")
    [timestamp] = summary.examples["paragraph_special_characters"]
    assert timestamp.value == pytest.approx(special_char_ratio("8. April 2019 @ 17:34 Uhr"))
    assert timestamp.value > NodeFilterConfig().max_special_char_ratio
