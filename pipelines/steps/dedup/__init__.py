"""Dedup without gathering documents: key rows, grouping and clustering stages, drop lists applied
while streaming, for text (before fetching) and for images (after)."""
