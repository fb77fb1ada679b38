"""What the demo and the tests generate: the demo corpus (`corpus`: WARC pages from `pages`, PDFs
from `pdfs`, texts from `texts`), the local web that serves its images and faults (`local_web`,
`local_web_faults`), synthetic documents of every kind (`documents`), the colour task the training
tests learn (`colour_task`) and packing pages into a WARC (`warc_pack`)."""
