"""Documents -> WebDataset shards: the sample members of a document, the shard writer, and the
finalize stage that writes manifest.json and sizes.json."""
