"""Crawled web input: WARC/ARC reading, crawl mode, charset decoding, HTML -> interleaved nodes
(simplification, main content, images), and the pairs job's readers (URL + caption tables,
pairs mined from pages)."""
