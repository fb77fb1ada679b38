"""Synthetic inputs: the demo corpus, the local web, rendered text, Docmatix QA generation."""
