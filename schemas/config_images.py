"""Config sections of the image stages shared by the interleaved and pairs jobs: fetch,
image filters, NSFW scoring, image dedup."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.config import StrictModel


class FetchSettings(StrictModel):
    """How the fetch stage downloads images (see ``pipelines.fetch.FetchConfig``)."""

    concurrency: int = Field(64, ge=1, description="requests in flight overall, per fetch task")
    per_host: int = Field(4, ge=1, description="requests in flight per host (a host lives in one partition)")
    connect_timeout: float = Field(10.0, gt=0, description="seconds to open a connection")
    total_timeout: float = Field(30.0, gt=0, description="seconds for one request, headers and body")
    deadline: float = Field(
        120.0, gt=0, description="seconds for one URL, retries and backoff included (straggler cut-off)"
    )
    max_bytes: int = Field(20 * 1024 * 1024, ge=1, description="bytes one image may have; more is too_large")
    max_attempts: int = Field(
        3, ge=1, description="tries per request for retryable failures (429, 503, resets)"
    )
    allow_private: bool = Field(
        False, description="let URLs reach private/loopback addresses (never for real crawls)"
    )
    resolver_override: dict[str, str] = Field(
        default_factory=dict,
        description='host pattern (exact or fnmatch, e.g. "*") -> "ip:port" to connect to instead; tests and demo',
    )
    local_web: bool = Field(
        False,
        description="serve the hosts of the demo corpus from an in-process local web (synth.demo.local_web), as "
        "`vlmdata demo` does: only RFC 2606 names (*.example, example.org/.com/.net and their subdomains, "
        "which no real site has) are mapped to it; one machine only (local executor or embedded Ray)",
    )
    override_plain_http: bool = Field(
        False, description="request https URLs of overridden hosts over plain HTTP (the local test server)"
    )
    max_side: int = Field(
        1024, ge=1, description="fetched images are resized so their longest side fits this"
    )
    batch_size: int = Field(
        256, ge=1, description="URLs in flight per task, and rows per write (bounds a task's memory)"
    )
    partitions: int | None = Field(
        None, ge=1, description="fetch tasks; image URLs are split among them by host; None = executor.tasks"
    )
    user_agent: str = Field(
        "vlmdata/0.1 (+https://github.com/vlmdata)",
        description="User-Agent header; robots.txt and X-Robots-Tag rules for its first word apply",
    )
    respect_robots: bool = Field(
        True, description="honour each host's robots.txt (4xx: allow all; 5xx/unreachable: disallow all)"
    )
    per_host_rate: float | None = Field(
        None,
        gt=0,
        description="requests per second per host across the job (a host lives in one task); "
        "time queued behind the rate counts against deadline",
    )
    max_crawl_delay_s: float = Field(
        10.0,
        ge=0,
        description="a host whose robots.txt Crawl-delay (or Request-rate) is slower than per_host_rate is "
        "paced at it, up to this many seconds between requests; hosts asking more are paced at this and "
        "counted (crawl_delay_capped)",
    )
    opt_out: str | None = Field(
        None,
        description="file (local or fsspec URL) of URLs or domains, one a line, whose images are never fetched",
    )
    decode_threads: int = Field(
        2, ge=1, description="threads per fetch task decoding/resizing images beside the network loop"
    )
    resample: Literal["box", "bilinear", "bicubic", "lanczos"] = Field(
        "box",
        description="downscaling filter: box (area averaging, fastest) ... lanczos (sharpest, ~3x slower)",
    )


class ImageFilterConfig(StrictModel):
    """Image filters applied to fetched images (OBELICS)."""

    min_side: int = Field(150, ge=0, description="drop images whose shorter original side is smaller")
    max_side: int = Field(20000, ge=1, description="drop images whose longer original side is larger")
    max_aspect_ratio: float = Field(
        2.0, ge=1, description="drop images whose long side / short side exceeds this"
    )


class NsfwConfig(StrictModel):
    """NSFW scoring of fetched images (NudeNet's detector by default)."""

    enabled: bool = Field(True, description="score every kept image and apply the policy")
    model: Literal["nudenet", "clip_head"] = Field(
        "nudenet",
        description="nudenet: the ONNX detector inside the nudenet wheel; clip_head: LAION's MLP on CLIP embeddings",
    )
    threshold: float = Field(0.5, ge=0, le=1, description="images scoring at least this are NSFW")
    policy: Literal["image", "document"] = Field(
        "document", description="what an NSFW image removes: the image, or its whole document (OBELICS)"
    )
    batch_size: int = Field(16, ge=1, description="images scored per model call")
    threads: int = Field(
        1, ge=0, description="onnxruntime threads per worker (0 = all cores; 1 suits one task per CPU)"
    )
    detector_path: str | None = Field(
        None, description="an ONNX detector of NudeNet's format to use instead of the wheel's own"
    )
    clip_model: str = Field("ViT-L-14", description="clip_head: open_clip architecture of the embeddings")
    clip_weights: str | None = Field(None, description="clip_head: path of the open_clip checkpoint")
    head_weights: str | None = Field(None, description="clip_head: path of the NSFW head's weights")


class ImageDedupConfig(StrictModel):
    """Exact (sha256) and near-duplicate image dedup across the dataset. Near duplicates are
    found with crop-tolerant signatures (``filters.dedup.image_signature``): 16 perceptual hashes
    of an image, one per crop of 0 or 5% off each side, each with a 4x4 chroma thumbnail, and the
    hash of its content box when it is mostly blank background."""

    enabled: bool = Field(True, description="run the image dedup stages")
    exact: bool = Field(True, description="identical bytes (sha256 of the stored image)")
    near: bool = Field(
        True,
        description="near duplicates: some crop of each within max_distance bits and colour_tolerance",
    )
    max_distance: int = Field(
        6,
        ge=0,
        le=32,
        description="Hamming distance (bits of 64) between the closest crop hashes of near duplicates",
    )
    colour_tolerance: int = Field(
        10,
        ge=0,
        le=255,
        description="largest difference (0..255) of a chroma thumbnail cell between near duplicates",
    )
    box_distance: int = Field(
        20,
        ge=0,
        le=64,
        description="Hamming distance between the content-box hashes of near duplicates that are both mostly "
        "blank background (a title on an empty banner, a small chart on a white figure)",
    )
    band_distance: int = Field(
        2,
        ge=0,
        le=8,
        description="crop hashes within this many bits always become candidates (band keys: 6 a crop at 2, "
        "84 at 6; more find more, at more key rows per image)",
    )
    partitions: int | None = Field(
        None, ge=1, description="tasks of the global grouping stage; None = executor.tasks"
    )
