"""Config of the ``docmatix`` job and of ``vlmdata import cauldron``: the LLM, generation, QA filters."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.config import JobConfig, StrictModel
from schemas.config_governance import GovernanceConfig

# the prompt templates drawn from by default: five, as Docmatix had (names of synth/qa_prompts.py)
RECIPE_TEMPLATES = ("factual", "reasoning", "summary", "numbers_and_entities", "locate_and_explain")


class LlmConfig(StrictModel):
    """The LLM that writes the question/answer pairs (synth/llm.py).

    backend=endpoint: any OpenAI-compatible chat-completions server given by endpoint_url (tests
    use one on 127.0.0.1). backend=vllm / sglang: datatrove's inference servers start one server
    per generate task on the task's GPUs (executor.kind=ray with gpus_per_task); vLLM or SGLang
    must be installed on the GPU workers."""

    backend: Literal["endpoint", "vllm", "sglang"] = Field(
        "endpoint",
        description="endpoint: an OpenAI-compatible server at endpoint_url; vllm / sglang: a server per "
        "generate task started by datatrove's inference runner on the task's GPUs",
    )
    endpoint_url: str | None = Field(
        None,
        description="base URL of the OpenAI-compatible API for backend=endpoint, e.g. http://host:8000/v1",
    )
    api_key_env: str | None = Field(
        None, description="environment variable holding the endpoint's API key (sent as Bearer); never stored"
    )
    model: str = Field(
        "microsoft/Phi-3-small-8k-instruct",  # the model Docmatix was generated with
        description="model name sent to the endpoint; for vllm / sglang the model path or hub name to serve",
    )
    context_tokens: int = Field(
        8192, ge=256, description="the model's context length: prompt plus max_new_tokens must fit in it"
    )
    max_new_tokens: int = Field(1024, ge=16, description="most tokens generated per request")
    temperature: float = Field(0.3, ge=0, le=2, description="sampling temperature")
    top_p: float = Field(0.95, gt=0, le=1, description="nucleus sampling mass")
    tokenizer: str | None = Field(
        None,
        description="tokenizer.json of the model (tokenizers library), counting the prompt's tokens for the "
        "budget; None: the estimate max(1.5 per word, 1 per 4 characters), which errs high",
    )
    concurrency: int = Field(32, ge=1, description="requests in flight per generate task")
    request_timeout_s: float = Field(
        120.0, gt=0, description="time limit of one try of a request (connect to last byte)"
    )
    deadline_s: float = Field(
        900.0, gt=0, description="time limit of one request, every try and wait included (schemas.retry)"
    )
    max_attempts: int = Field(
        5, ge=1, description="tries per request; 429, 5xx, timeouts and connection errors are retried"
    )
    backoff_s: float = Field(
        1.0, ge=0, description="wait before the first retry; doubles per retry (with jitter)"
    )
    backoff_max_s: float = Field(
        30.0, ge=0, description="longest wait between retries (a Retry-After header wins)"
    )
    retry_after_max_s: float = Field(
        120.0, ge=0, description="a server's Retry-After (seconds or HTTP date) is cut to this"
    )
    flush_every: int = Field(
        16,
        ge=1,
        description="responses staged per Parquet file: at most this many are asked again after a kill",
    )
    gpus_per_task: float = Field(
        1, ge=0, description="GPUs Ray reserves per generate task with backend vllm / sglang (endpoint: none)"
    )
    tp: int = Field(1, ge=1, description="tensor parallel size of the vllm / sglang server (GPUs per server)")
    model_kwargs: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="extra server flags for vllm / sglang, e.g. {gpu-memory-utilization: 0.9, dtype: bfloat16}",
    )
    server_start_timeout_s: float = Field(
        1800.0, gt=0, description="how long a vllm / sglang server may take to become ready (model load)"
    )
    server_log_dir: str | None = Field(
        None,
        description="folder for the vllm / sglang server logs, one per task; None: OUT/<dataset>/_logs/llm_server",
    )


class QaGenerationConfig(StrictModel):
    """What the docmatix job asks the LLM for (synth/qa_prompts.py)."""

    unit: Literal["pdf", "page"] = Field(
        "pdf", description="pdf: one qa sample per PDF with all its page images; page: one sample per page"
    )
    pairs_per_page: int = Field(
        4, ge=1, description="question/answer pairs asked per page (Docmatix: about 4)"
    )
    max_pairs: int = Field(24, ge=1, description="most pairs asked per request, whatever the page count")
    templates: list[str] = Field(
        default_factory=lambda: list(RECIPE_TEMPLATES),
        description="prompt template names to draw from (seeded per document); the default is five, as "
        "Docmatix had; empty: every template (synth/qa_prompts.py has one more, reader_roles)",
    )
    languages: list[str] = Field(
        default_factory=lambda: ["en"],
        description="page languages (meta.lang of the pdf_ocr job) sent to the model; Docmatix used English "
        "PDFA pages; others are counted pages_other_language; empty: every language",
    )
    turn_source: str = Field(
        "docmatix", description="the 'source' of every generated turn (The Cauldron layout)"
    )


class QaFilterConfig(StrictModel):
    """Filters of generated pairs (filters/qa_filters.py); a document left without pairs is dropped."""

    max_question_words: int = Field(
        60, ge=1, description="questions with more words are dropped (question_too_long)"
    )
    max_answer_words: int = Field(
        120, ge=1, description="answers with more words are dropped (answer_too_long)"
    )
    refusals: bool = Field(
        True,
        description="drop refusals beyond Docmatix's 'unanswerable' rule (I'm sorry, not mentioned in the text, ...)",
    )
    duplicates: bool = Field(True, description="drop a question asked before about the same document")
    min_support: float = Field(
        0.8,
        ge=0,
        le=1,
        description="share of the answer's content words that must stand close together in one passage "
        "of one page (filters/qa_grounding.py); fewer: unsupported; 0 turns grounding off",
    )
    fuzzy_ratio: float = Field(
        0.8,  # one OCR error in a 5-letter word scores 80
        ge=0,
        le=1,
        description="similarity (rapidfuzz ratio) at which an answer word matches a page word",
    )
    exact_numbers_and_names: bool = Field(
        True,
        description="every number and name of an answer must stand in its best passage, exactly "
        "(else unsupported_number_or_name)",
    )


class DocmatixConfig(JobConfig):
    """The ``docmatix`` job: ocr shards -> LLM question/answer pairs -> filtered ``qa`` shards."""

    ocr: list[str] = Field(
        default_factory=list,
        description="ocr datasets to read: OUT/<dataset> folders or their manifest.json (local or fsspec URLs)",
    )
    llm: LlmConfig = LlmConfig()
    generation: QaGenerationConfig = QaGenerationConfig()
    qa_filters: QaFilterConfig = QaFilterConfig()


class CauldronImportConfig(JobConfig):
    """``vlmdata import cauldron PATH``: The Cauldron-format parquet -> ``qa`` shards."""

    input: list[str] = Field(
        default_factory=list,
        description="parquet files, folders (searched recursively) or globs in The Cauldron layout",
    )
    images_column: str = Field("images", description="column of the images: a list of {bytes, path}")
    texts_column: str = Field("texts", description="column of the turns: a list of {user, assistant, source}")
    source: str | None = Field(
        None, description="turn 'source' for turns without one; None: the parquet file's parent folder name"
    )
    governance: GovernanceConfig = GovernanceConfig()
