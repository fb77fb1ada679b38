"""The Docmatix job's steps: ocr shards read back grouped by PDF, and the LLM's responses, asked
once and staged."""
