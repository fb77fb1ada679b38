"""Filters: one concept per file, each a datatrove BaseFilter (text, language, url, image, nsfw, clip, dedup)."""
