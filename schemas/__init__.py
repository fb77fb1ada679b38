"""The contracts of vlmdata: sample kinds, job configs, the shard manifest, audit records.

This package imports nothing else of ours, so trainers and auditors can read what a job wrote
without installing the crawler.
"""
