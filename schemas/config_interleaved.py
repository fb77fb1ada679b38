"""Config of the ``interleaved`` job (OBELICS): node and document filters, text dedup, the job."""

from __future__ import annotations

from pydantic import Field

from schemas.config import JobConfig, StrictModel
from schemas.config_governance import GovernanceConfig
from schemas.config_images import FetchSettings, ImageDedupConfig, ImageFilterConfig, NsfwConfig


class NodeFilterConfig(StrictModel):
    """Node level (OBELICS): drop one paragraph or image, keep the document."""

    image_url_blocklist: list[str] = Field(
        ["logo", "button", "icon", "plugin", "widget"],
        description="drop images whose URL contains one of these",
    )
    image_formats: list[str] = Field(
        ["jpg", "jpeg", "png", "webp"], description="drop images whose URL extension is another known format"
    )
    min_words: int = Field(4, ge=0, description="drop paragraphs with fewer words")
    max_words: int = Field(1000, ge=1, description="drop paragraphs with more words")
    max_char_10gram_repetition: float = Field(
        0.1, ge=0, le=1, description="share of characters in repeated 10-grams"
    )
    max_word_5gram_repetition: float = Field(
        0.1, ge=0, le=1, description="share of words in repeated 5-grams"
    )
    max_special_char_ratio: float = Field(
        0.3, ge=0, le=1, description="share of non-letter, non-space characters"
    )
    min_stopword_ratio: float = Field(0.3, ge=0, le=1, description="share of words that are stopwords")
    max_flagged_word_ratio: float = Field(0.01, ge=0, le=1, description="share of words on the flagged list")
    min_punctuation_ratio: float = Field(0.001, ge=0, le=1, description="share of punctuation characters")
    punctuation_min_words: int = Field(
        12, ge=0, description="the punctuation rule applies from this many words"
    )
    max_spam_word_ratio: float = Field(
        0.12, ge=0, le=1, description="drop paragraphs whose spam-word share reaches this"
    )


class DocFilterConfig(StrictModel):
    """Document level (OBELICS): drop the whole document."""

    min_images: int = Field(1, ge=0, description="fewest images a document may keep")
    max_images: int = Field(30, ge=0, description="most images a document may keep")
    min_words: int = Field(10, ge=0, description="fewest words")
    max_words: int = Field(2000, ge=1, description="most words")
    max_char_10gram_repetition: float = Field(
        0.1, ge=0, le=1, description="share of characters in repeated 10-grams"
    )
    max_word_5gram_repetition: float = Field(
        0.2, ge=0, le=1, description="share of words in repeated 5-grams"
    )
    max_special_char_ratio: float = Field(
        0.275, ge=0, le=1, description="share of non-letter, non-space characters"
    )
    min_stopword_ratio: float = Field(0.35, ge=0, le=1, description="share of words that are stopwords")
    max_flagged_word_ratio: float = Field(0.01, ge=0, le=1, description="share of words on the flagged list")
    min_punctuation_ratio: float = Field(0.03, ge=0, le=1, description="share of punctuation characters")
    languages: list[str] = Field(
        ["en", "de", "fr"], description="keep documents in these languages (lid.176 codes)"
    )
    min_language_score: float = Field(0.8, ge=0, le=1, description="fastText score the language must reach")


class TextDedupConfig(StrictModel):
    """Deduplication decided from URLs and text alone, before any image is fetched (OBELICS)."""

    enabled: bool = Field(True, description="run the URL and text dedup stages")
    partitions: int | None = Field(
        None, ge=1, description="tasks of the global grouping stages; None = executor.tasks"
    )
    url: bool = Field(True, description="documents with the same URL: keep the newest (WARC-Date)")
    image_url_max_docs: int | None = Field(
        10, ge=1, description="drop images whose URL appears in more pages than this (logos); None = off"
    )
    image_set: bool = Field(True, description="documents with the same set of image URLs: keep the newest")
    paragraph_max_docs: int | None = Field(
        2, ge=1, description="remove paragraphs found in more pages of one domain than this; None = off"
    )
    minhash: bool = Field(True, description="near-duplicate documents by MinHash LSH: keep the newest")
    minhash_ngram: int = Field(5, ge=1, description="words per shingle")
    # 20 x 6 (candidates from Jaccard ~0.61): recall 0.96 at precision 1.0 on benchmarks/bench_dedup.py,
    # where datatrove's 14 x 8 (~0.72) found 0.86 of the planted small edits
    minhash_bands: int = Field(20, ge=1, description="LSH bands")
    minhash_rows: int = Field(6, ge=1, description="hashes per band")


class InterleavedConfig(JobConfig):
    """The ``interleaved`` job: WARC pages -> OBELICS-style interleaved documents."""

    warcs: list[str] = Field(
        default_factory=list, description="WARC/ARC files or globs (local paths or fsspec URLs, gzip or not)"
    )
    pointers: str | None = Field(
        None, description="table (parquet/csv/jsonl) of WARC record pointers: columns file, offset, length"
    )
    page_urls: str | None = Field(
        None,
        description="crawl mode: a list of page URLs (text, one per line, or parquet/csv/jsonl with a url column) "
        "fetched with the fetch.* settings and archived as WARC under _stage/crawl, then extracted",
    )
    node_filters: NodeFilterConfig = NodeFilterConfig()
    doc_filters: DocFilterConfig = DocFilterConfig()
    fetch_images: bool = Field(
        False,
        description="fetch the documents' images (stages image_urls, fetch, join) and end with shards; "
        "off by default until the demo turns it on, so the job never reaches the network unasked",
    )
    fetch: FetchSettings = FetchSettings()
    image_filters: ImageFilterConfig = ImageFilterConfig()
    text_dedup: TextDedupConfig = TextDedupConfig()
    nsfw: NsfwConfig = NsfwConfig()
    image_dedup: ImageDedupConfig = ImageDedupConfig()
    governance: GovernanceConfig = GovernanceConfig()
