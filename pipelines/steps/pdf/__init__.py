"""PDF input: reading and probing PDFs, rendering pages, the text layer in reading order, OCR."""
