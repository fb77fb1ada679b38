"""Text statistics and word lists of the OBELICS filters: exact values on small cases, the
numpy path against a plain reference on real pages, and the shipped lists."""

from __future__ import annotations

import glob
from collections import Counter
from math import isqrt

import pytest
from selectolax.lexbor import LexborHTMLParser

from filters.text_stats import (
    char_ngram_repetition,
    punctuation_ratio,
    special_char_ratio,
    word_list_ratio,
    word_ngram_repetition,
    words,
)
from filters.wordlists import KINDS, load_wordlist
from tests import corpora

# Real sentences (one paragraph per language) shared by the filter tests.
SENTENCES = {
    "en": "The museum reopened on Saturday after two years of renovation work. Visitors can now see the "
    "collection of early photographs in a new gallery on the second floor, and the café in the garden "
    "is open again. Entry is free for children under twelve, and guided tours start every hour from "
    "the main hall.",
    "de": "Das Museum ist am Samstag nach zwei Jahren Umbau wieder geöffnet worden. Besucher können die "
    "Sammlung früher Fotografien jetzt in einem neuen Saal im zweiten Stock sehen, und auch das Café im "
    "Garten hat wieder geöffnet. Für Kinder unter zwölf Jahren ist der Eintritt frei, Führungen "
    "beginnen jede Stunde in der großen Halle.",
    "fr": "Le musée a rouvert ses portes samedi après deux années de travaux. Les visiteurs peuvent "
    "maintenant découvrir la collection de photographies anciennes dans une nouvelle salle au deuxième "
    "étage, et le café du jardin est de nouveau ouvert. L'entrée est gratuite pour les enfants de moins "
    "de douze ans, et les visites guidées partent toutes les heures du grand hall.",
    "it": "Il museo ha riaperto sabato dopo due anni di lavori di ristrutturazione. I visitatori possono "
    "ora vedere la collezione di fotografie antiche in una nuova sala al secondo piano, e il caffè del "
    "giardino è di nuovo aperto. L'ingresso è gratuito per i bambini sotto i dodici anni.",
}
# A second paragraph per language, for documents of several paragraphs.
MORE_SENTENCES = {
    "en": "The old railway station next to the river has been turned into a library. Its reading room "
    "keeps the high windows of the waiting hall, and the platforms have become a small park where "
    "people meet after work. On Sunday mornings a market sells bread, cheese and vegetables from "
    "the farms around the town.",
    "de": "Der alte Bahnhof am Fluss ist zu einer Bibliothek umgebaut worden. Im Lesesaal sind die hohen "
    "Fenster der Wartehalle erhalten, und auf den Bahnsteigen ist ein kleiner Park entstanden, in dem "
    "sich die Leute nach der Arbeit treffen. Am Sonntagmorgen verkauft ein Markt dort Brot, Käse und "
    "Gemüse von den Höfen aus der Umgebung.",
    "fr": "L'ancienne gare au bord de la rivière a été transformée en bibliothèque. La salle de lecture "
    "garde les hautes fenêtres de la salle d'attente, et les quais sont devenus un petit parc où les "
    "habitants se retrouvent après le travail. Le dimanche matin, un marché y vend du pain, du fromage "
    "et des légumes des fermes voisines.",
    "it": "La vecchia stazione accanto al fiume è stata trasformata in una biblioteca. La sala di lettura "
    "conserva le alte finestre della sala d'attesa, e i binari sono diventati un piccolo parco.",
}
LANGS = ("en", "de", "fr")


def real_page_texts() -> dict[str, str]:
    """File name -> visible text of each real page of ``shared/data/web/html`` (crude: the body
    text without scripts and styles)."""
    texts = {}
    for path in sorted(glob.glob(str(corpora.require("web") / "html" / "*.html"))):
        with open(path, "rb") as f:
            tree = LexborHTMLParser(f.read().decode("utf-8", "replace"))
        tree.strip_tags(["script", "style", "noscript"])
        texts[path.rsplit("/", 1)[1]] = tree.body.text(separator=" ") if tree.body else ""
    return texts


def reference_char_repetition(text: str, n: int = 10) -> float:
    """OBELICS's compute_character_repetition_ratio, written out plainly."""
    freqs = sorted(Counter(text[i : i + n] for i in range(len(text) - n + 1)).values(), reverse=True)
    if not freqs:
        return 0.0
    k = min(isqrt(len(freqs)), len([f for f in freqs if f > 1]))
    return sum(freqs[:k]) / sum(freqs)


@pytest.mark.timeout(60)
def test_words_are_unicode_aware_and_lower_cased():
    assert words("Größe, CAFÉ und naïve Ärzte!") == ["größe", "café", "und", "naïve", "ärzte"]
    assert words("cafe\u0301 ok") == ["cafe\u0301", "ok"]  # a combining accent stays in its word
    assert words("L'homme qu'il voit, don't") == ["l", "homme", "qu", "il", "voit", "don", "t"]
    assert words("snake_case 2023 👍 e-mail") == ["snake", "case", "2023", "e", "mail"]
    assert words("") == [] and words(" ... — ") == []


@pytest.mark.timeout(60)
def test_char_ngram_repetition_follows_obelics():
    assert char_ngram_repetition("short", 10) == 0.0
    assert char_ngram_repetition("abcdefghijklmnopqrstuvwxyz", 10) == 0.0
    # 21 windows over 10 distinct 10-grams: the rotation starting at "a" occurs 3 times, the
    # others twice; k = min(isqrt(10), 10) = 3, so (3 + 2 + 2) / 21.
    assert char_ngram_repetition("abcdefghij" * 3, 10) == pytest.approx(7 / 21)
    one_line = "Click here to subscribe! " * 20  # about 1 / sqrt(25): the top 5 of 25 distinct
    assert char_ngram_repetition(one_line) == pytest.approx(reference_char_repetition(one_line))
    assert 0.19 < char_ngram_repetition(one_line) < 0.21
    assert char_ngram_repetition("-" * 400) == 1.0
    assert char_ngram_repetition("ha" * 200) == pytest.approx(0.5, abs=0.01)  # 2 distinct, top 1
    for lang, text in SENTENCES.items():
        assert char_ngram_repetition(text) < 0.1, lang


@pytest.mark.corpus("web")
@pytest.mark.timeout(60)
def test_char_ngram_repetition_numpy_path_matches_reference_on_real_pages():
    texts = [t for t in real_page_texts().values() if len(t) > 1000][:40]
    texts += ["abcdefghij" * 40, "é" * 300, "x" * 256, SENTENCES["de"] * 3]
    texts += ["".join(map(chr, range(0x4E00, 0x4E00 + 300)))]  # all distinct: the early exit
    for text in texts:
        assert char_ngram_repetition(text) == pytest.approx(reference_char_repetition(text), abs=1e-12)


@pytest.mark.timeout(60)
def test_word_ngram_repetition_counts_every_occurrence_of_a_repeated_ngram():
    assert word_ngram_repetition(["a", "b", "c", "d"], 5) == 0.0
    # 6 five-grams; (a b c d e) occurs twice, the 4 others once.
    assert word_ngram_repetition(list("abcde") * 2, 5) == pytest.approx(2 / 6)
    assert word_ngram_repetition(["w"] * 20, 5) == 1.0
    for lang, text in SENTENCES.items():
        assert word_ngram_repetition(words(text)) == 0.0, lang


@pytest.mark.timeout(60)
def test_special_char_ratio_counts_punctuation_symbols_emoji_and_digits():
    assert special_char_ratio("") == 0.0
    assert special_char_ratio("abc, 12!") == pytest.approx(4 / 8)
    assert special_char_ratio("ok 👍") == pytest.approx(1 / 4)
    assert special_char_ratio("e\u0301t\u00e9 \t\n") == 0.0  # letters, marks, whitespace
    assert special_char_ratio("8. April 2019 @ 17:34") == pytest.approx(12 / 21)
    for lang, text in SENTENCES.items():
        assert special_char_ratio(text) < 0.05, lang


@pytest.mark.timeout(60)
def test_word_list_and_punctuation_ratios():
    assert word_list_ratio([], {"a"}) == 0.0
    assert word_list_ratio(["a", "b", "a", "c"], frozenset({"a"})) == 0.5
    assert punctuation_ratio("") == 0.0
    assert punctuation_ratio("Hello, world. Fine!") == pytest.approx(3 / 3)
    assert punctuation_ratio("Wait… what?", n_words=4) == pytest.approx(2 / 4)
    assert punctuation_ratio("東京。大阪！") == pytest.approx(2 / 2)
    assert punctuation_ratio("no marks at all here") == 0.0
    for lang, text in SENTENCES.items():
        assert 0.05 < punctuation_ratio(text) < 0.2, lang


@pytest.mark.timeout(60)
@pytest.mark.parametrize("lang", LANGS)
def test_word_lists_are_shipped_lower_case_single_words(lang):
    sizes = {"stopwords": (150, 300), "flagged": (25, 80), "spam": (25, 80)}
    for kind in KINDS:
        wordset = load_wordlist(kind, lang)
        assert isinstance(wordset, frozenset)
        low, high = sizes[kind]
        assert low <= len(wordset) <= high, (kind, lang, len(wordset))
        assert all(words(entry) == [entry] for entry in wordset), (kind, lang)
        assert load_wordlist(kind, lang) is wordset  # cached
    stopwords = load_wordlist("stopwords", lang)
    assert word_list_ratio(words(SENTENCES[lang]), stopwords) > 0.35
    assert not load_wordlist("flagged", lang) & stopwords
    assert not load_wordlist("spam", lang) & stopwords


@pytest.mark.timeout(60)
def test_word_lists_missing_language_and_unknown_kind():
    assert load_wordlist("stopwords", "it") is None
    assert load_wordlist("flagged", "ja") is None
    assert load_wordlist("spam", "") is None
    assert load_wordlist("stopwords", "../en") is None
    with pytest.raises(ValueError, match="unknown word list kind 'badwords'"):
        load_wordlist("badwords", "en")
