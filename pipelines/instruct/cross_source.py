"""The last stage of ``run instruct``: the same image in several sources.

Each reader task lists the images it wrote (``_instruct_images/images-*.tsv``: SHA-256, with
``cross_source: phash`` also the perceptual hash, and the source); this one task joins them into
``cross_source_images.json``: how many images recur across sources, per pair of sources, and a few
examples.
"""

from __future__ import annotations

import json
from collections import defaultdict

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from pipelines.steps import folder
from schemas.manifest import CROSS_SOURCE


class CrossSourceImages(PipelineStep):
    """One task: the per-task image lists -> ``cross_source_images.json`` (images found in more
    than one source, counted per pair of sources, with a few examples). An image is its SHA-256;
    with perceptual hashes, images within ``max_distance`` bits are one image (found through the
    LSH bands of ``filters.dedup.image_hash``, joined transitively)."""

    name = "🔁 Cross-source images"
    type = "📊 - STATS"

    def __init__(self, dataset_dir: str, images_dir: str, max_distance: int | None = None):
        super().__init__()
        self.dataset_dir, self.images_dir, self.max_distance = dataset_dir, images_dir, max_distance

    def _images(self) -> dict[str, set[str]]:
        images = folder(self.images_dir)
        sources: dict[str, set[str]] = defaultdict(set)
        for path in sorted(images.list_files(glob_pattern="images-*.tsv")):
            with images.open(path, "r") as f:
                for line in f:
                    digest, _, name = line.rstrip("\n").partition("\t")
                    sources[digest].add(name)
        return sources

    def _clusters(self, sources: dict[str, set[str]]) -> dict[str, set[str]]:
        """sha256 -> the sources of every image like it: the same bytes, or (perceptual hashes)
        within max_distance bits."""
        by_sha: dict[str, set[str]] = defaultdict(set)
        phashes: dict[int, list[str]] = defaultdict(list)
        for key, names in sources.items():
            sha, _, value = key.partition(":")
            by_sha[sha] |= names
            if value and self.max_distance is not None:
                phashes[int(value, 16)].append(sha)
        if not phashes:
            return by_sha
        from filters.dedup.image_hash import band_keys, hamming

        parent = {sha: sha for sha in by_sha}

        def root(sha: str) -> str:
            while parent[sha] != sha:
                parent[sha] = parent[parent[sha]]
                sha = parent[sha]
            return sha

        buckets: dict[int, list[int]] = defaultdict(list)
        for value in phashes:
            for key in band_keys(value, self.max_distance):
                buckets[key].append(value)
        for shas in phashes.values():  # the same perceptual hash: one image
            for sha in shas[1:]:
                parent[root(sha)] = root(shas[0])
        for members in buckets.values():
            for i, a in enumerate(members):
                for b in members[i + 1 :]:
                    if hamming(a, b) <= self.max_distance:
                        parent[root(phashes[b][0])] = root(phashes[a][0])
        clusters: dict[str, set[str]] = defaultdict(set)
        for sha, names in by_sha.items():
            clusters[root(sha)] |= names
        return clusters

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        clusters = self._clusters(self._images())
        shared = {d: sorted(names) for d, names in clusters.items() if len(names) > 1}
        pairs: dict[str, int] = defaultdict(int)
        for names in shared.values():
            for i, a in enumerate(names):
                for b in names[i + 1 :]:
                    pairs[f"{a} + {b}"] += 1
        self.stat_update("images", value=len(clusters))
        self.stat_update("images_in_several_sources", value=len(shared))
        report = {
            "method": "sha256" if self.max_distance is None else f"phash within {self.max_distance} bits",
            "images": len(clusters),
            "images_in_several_sources": len(shared),
            "pairs": dict(sorted(pairs.items())),
            "examples": [{"sha256": d, "sources": n} for d, n in sorted(shared.items())[:20]],
        }
        with folder(self.dataset_dir).open(CROSS_SOURCE, "w") as f:
            json.dump(report, f, indent=1)
        return data or iter(())
