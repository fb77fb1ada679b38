"""vlmdata jobs: the CLI, executor choice, and the steps that are not filters."""
