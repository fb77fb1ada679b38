"""Config of the ``rendered_text`` job (Rendered Text in the Idefics2 mixture)."""

from __future__ import annotations

from pydantic import Field

from schemas.config import JobConfig


class RenderedTextConfig(JobConfig):
    """The ``rendered_text`` job (Rendered Text in the Idefics2 mixture): text drawn onto images ->
    ``ocr`` shards. Every random choice is drawn from ``seed`` and the sample's index."""

    texts: list[str] = Field(
        default_factory=list,
        description="UTF-8 text files (paragraphs split at blank lines) or folders of staged Parquet "
        "documents (e.g. OUT/<dataset>/_stage/extract of the interleaved job); local paths",
    )
    samples: int = Field(1000, ge=1, description="samples to draw, split among the tasks by index")
    min_font_size: int = Field(14, ge=4, description="smallest font size in pixels")
    max_font_size: int = Field(44, ge=4, description="largest font size in pixels")
    min_width: int = Field(320, ge=32, description="narrowest text block in pixels, before rotation")
    max_width: int = Field(1024, ge=32, description="widest text block in pixels, before rotation")
    min_words: int = Field(3, ge=1, description="fewest words drawn in one sample")
    max_words: int = Field(60, ge=1, description="most words drawn in one sample")
    max_rotation: float = Field(4.0, ge=0, le=45, description="largest rotation in degrees, either way")
    max_noise: float = Field(0.12, ge=0, le=1, description="largest share of pixel noise blended in")
    blur_chance: float = Field(0.2, ge=0, le=1, description="chance that a sample is slightly blurred")
    min_contrast: int = Field(
        110, ge=0, le=255, description="least grey-level difference between text and background"
    )
    max_side: int = Field(1540, ge=64, description="images are scaled down so their longer side fits")
