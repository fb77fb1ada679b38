"""Config sections of the governance stages: PII, face blurring, blocklists, decontamination."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.config import StrictModel


class PiiConfig(StrictModel):
    """PII in text replaced by placeholders (<EMAIL>, <PHONE>, <IP>) in every text node."""

    enabled: bool = Field(True, description="replace the PII kinds switched on below (cheap: regexes)")
    email: bool = Field(True, description="e-mail addresses -> <EMAIL>")
    phone: bool = Field(
        True, description="phone numbers (E.164 and the national formats of phone_languages) -> <PHONE>"
    )
    ip: bool = Field(True, description="IPv4 and IPv6 addresses -> <IP>")
    only_public_ips: bool = Field(
        True, description="replace only global IP addresses (private, loopback, documentation ranges stay)"
    )
    phone_languages: list[str] = Field(
        ["en", "de", "fr"],
        description="national phone formats applied to documents of these languages (metadata lang); "
        "international +CC numbers are replaced in every language",
    )


class FaceBlurConfig(StrictModel):
    """Faces in kept images blurred, with NudeNet's detector (FACE_FEMALE / FACE_MALE boxes)."""

    enabled: bool = Field(False, description="detect faces in every kept image and blur them")
    min_score: float = Field(0.25, ge=0, le=1, description="lowest detector score of a face that is blurred")
    margin: float = Field(
        0.15, ge=0, le=1, description="each box grows by this share of its size on every side"
    )
    batch_size: int = Field(16, ge=1, description="images per detector call")
    threads: int = Field(1, ge=0, description="onnxruntime threads per worker (0 = all cores)")
    detector_path: str | None = Field(
        None, description="an ONNX detector of NudeNet's format to use instead of the wheel's own"
    )


class BlocklistConfig(StrictModel):
    """Hash and URL lists: listed images and documents are dropped (files: one entry a line, # comments)."""

    image_sha256: str | None = Field(None, description="file of sha256 hex digests of images to drop")
    image_phash: str | None = Field(
        None, description="file of 64-bit perceptual hashes (16 hex digits, filters.dedup.image_hash.phash)"
    )
    phash_max_distance: int = Field(
        4, ge=0, le=8, description="an image within this many bits of a listed perceptual hash is dropped"
    )
    urls: str | None = Field(
        None, description="file of document or image URLs to drop (normalised before matching)"
    )
    domains: str | None = Field(
        None, description="file of domains whose documents and images are dropped (subdomains too)"
    )
    image_policy: Literal["image", "document"] = Field(
        "document", description="what a listed image removes: the image, or its whole document"
    )


class DecontaminationConfig(StrictModel):
    """Samples overlapping evaluation sets dropped (GPT-3 / Llama style n-gram overlap; image phash)."""

    texts: list[str] = Field(
        default_factory=list,
        description="evaluation texts: .txt (one item a line), .jsonl/.json or .parquet (string fields of text_fields)",
    )
    text_fields: list[str] = Field(
        ["question", "text", "context", "passage", "query", "prompt"],
        description="fields of jsonl/json/parquet rows whose strings are evaluation text",
    )
    ngram: int = Field(
        13, ge=3, description="words per n-gram (normalised: lower case, letters and digits only)"
    )
    min_matches: int = Field(
        1,
        ge=1,
        description="a sample sharing at least this many distinct n-grams with the evaluation sets is dropped",
    )
    min_item_words: int = Field(
        8,
        ge=1,
        description="evaluation items shorter than ngram words but with this many count as one whole n-gram",
    )
    images: list[str] = Field(
        default_factory=list,
        description="evaluation images: folders or files of images, or .txt files of 16-hex-digit perceptual hashes",
    )
    image_max_distance: int = Field(
        4,
        ge=0,
        le=8,
        description="an image within this many bits of an evaluation image's perceptual hash matches",
    )
    pairs: list[str] = Field(
        default_factory=list,
        description="evaluation (image, question) pairs: .jsonl/.json rows with `image` (a path, "
        "relative to the file) and `question`; a sample with a matching image AND question is dropped "
        "(instruction data: short questions alone mean nothing)",
    )
    question_similarity: float = Field(
        90.0,
        ge=50,
        le=100,
        description="least rapidfuzz ratio (0-100) of the normalised questions for a pair to match",
    )

    @property
    def enabled(self) -> bool:
        return bool(self.texts or self.images or self.pairs)


class GovernanceConfig(StrictModel):
    """What a dataset needs before publication: PII, faces, blocklists, decontamination."""

    pii: PiiConfig = PiiConfig()
    faces: FaceBlurConfig = FaceBlurConfig()
    blocklists: BlocklistConfig = BlocklistConfig()
    decontamination: DecontaminationConfig = DecontaminationConfig()
