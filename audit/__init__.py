"""The auditor's report, built from what a run wrote (stats, exclusions, manifest)."""
