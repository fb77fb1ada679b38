"""The docmatix job end to end: real ocr shards, a scripted local LLM endpoint, qa shards.

Ocr shards are built by the pack job from pages of a few PDFs (pages spread over two shard
files, so grouping by PDF is exercised); the LLM is tests/llm_server.py on 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest
from datatrove.data import Document, Media, MediaType

from pipelines.docmatix import build_docmatix
from pipelines.executors import StageFailed, run_stages
from pipelines.staging import stage_documents
from pipelines.steps.docmatix.ocr_reader import OcrPdfReader, TokenCounter, fit_pages
from schemas.config import load_config
from schemas.config_docmatix import DocmatixConfig
from schemas.records import step_stats
from schemas.validate import validate_dataset
from synth.demo.documents import make_image
from synth.llm import datatrove_server, inference_kwargs
from tests.helpers import pack, shard_hashes
from tests.llm_server import LlmServer, Reply, fenced, ok, prose, refusal, text, truncated

PAGES = [
    "{m} Annual report of the Riverside Library. The library was founded in 1921 by Margaret Olsen. "
    "In 1998 the city council approved a new building with 12,000 square metres of space.",
    "{m} The reading room opened in March 2001 and holds 45,000 books. Visitors borrowed 310,000 "
    "items last year, most of them novels and travel guides.",
    "{m} The library runs a summer school for children and a weekly chess club. Its director, "
    "Thomas Weber, plans a digital archive of local newspapers.",
]
GOOD = [
    ("Who founded the Riverside Library?", "Margaret Olsen founded it in 1921."),
    ("How many books does the reading room hold?", "It holds 45,000 books."),
    ("Who is the director of the library?", "Thomas Weber is the director."),
    ("When did the reading room open?", "In March 2001."),
]
CODE = ("How is the number of loans computed?", "Use `def loans(x): return len(x)` on the list.")
UNANSWERABLE = ("What is the annual budget?", "This question is unanswerable from the text.")
UNSUPPORTED = ("What colour is the roof?", "The roof is painted bright green with copper tiles.")
DUPLICATE = ("Who founded the Riverside Library?", "Margaret Olsen, a teacher.")
EMPTY = ("What is the address?", "  ")
LONG_Q = ("Could you " + "please " * 70 + "say when it opened?", "In March 2001.")


def marker(k: int) -> str:
    return f"ZETA{k}"


def ocr_pages(pdfs: int, pages: int = 3) -> list[Document]:
    """Pages as the pdf_ocr job stages them: meta.pdf / meta.page, source PATH#page=N."""
    documents = []
    for k in range(pdfs):
        for p in range(1, pages + 1):
            documents.append(
                Document(
                    text=PAGES[(p - 1) % len(PAGES)].format(m=marker(k)),
                    id=f"pdf{k}-p{p:05d}",
                    media=[
                        Media(
                            id=f"pdf{k}-{p}",
                            type=MediaType.IMAGE,
                            url=f"reports/pdf{k}.pdf#page={p}",
                            media_bytes=make_image(100 * k + p, 200, 280),
                        )
                    ],
                    metadata={
                        "source": f"reports/pdf{k}.pdf#page={p}",
                        "meta": {"pdf": f"pdf{k}", "page": p, "pages": pages},
                    },
                )
            )
    return documents


@pytest.fixture
def ocr_dataset(tmp_path) -> Path:
    staged = tmp_path / "staged-ocr"
    # reversed and round-robin over two files: a PDF's pages land in both shards, out of order
    stage_documents(list(reversed(ocr_pages(10))), str(staged), files=2)
    return pack(staged, tmp_path / "ocr-out", "ocr", "pages")


def config(ocr: Path, out: Path, server: LlmServer, *overrides: str) -> DocmatixConfig:
    return load_config(
        DocmatixConfig,
        None,
        [
            f"ocr=[{ocr}]",
            f"output_dir={out}",
            "dataset=qa",
            "executor.kind=local",
            "executor.tasks=2",
            "executor.workers=1",
            f"llm.endpoint_url={server.url}",
            "llm.model=scripted-model",
            "llm.backoff_s=0.01",
            "llm.max_attempts=3",
            "llm.request_timeout_s=0.5",
            "llm.concurrency=4",
            "llm.flush_every=2",
            *overrides,
        ],
    )


def run(cfg: DocmatixConfig) -> Path:
    run_stages(build_docmatix(cfg), cfg.executor, cfg.dataset_dir, progress=False)
    return Path(cfg.dataset_dir)


def samples(dataset_dir: Path) -> dict[str, dict]:
    """key -> {"json": sample, "images": [bytes...]} of every shard, through the manifest."""
    manifest = json.loads((dataset_dir / "manifest.json").read_text())
    out: dict[str, dict] = {}
    for entry in manifest["shardlist"]:
        with tarfile.open(dataset_dir / entry["url"]) as tar:
            for member in tar.getmembers():
                key, _, suffix = member.name.partition(".")
                data = tar.extractfile(member).read()
                item = out.setdefault(key, {"images": []})
                if suffix == "json":
                    item["json"] = json.loads(data)
                else:
                    item["images"].append(data)
    return out


def generate_stats(dataset_dir: Path, step: str) -> dict[str, float]:
    return step_stats(json.loads((dataset_dir / "_logs/generate/stats.json").read_text()), step)


def excluded_counts(dataset_dir: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in (dataset_dir / "_excluded/generate").glob("*.json"):
        for reason, n in json.loads(path.read_text())["counts"].items():
            counts[reason] = counts.get(reason, 0) + n
    return counts


SCRIPT = {
    marker(0): [ok(GOOD)],
    marker(1): [fenced([GOOD[0], CODE, UNANSWERABLE, GOOD[1]])],
    marker(2): [prose([GOOD[0], DUPLICATE, UNSUPPORTED, EMPTY, LONG_Q, GOOD[2]])],
    marker(3): [truncated(GOOD[:3])],  # the third pair is cut: two recovered
    marker(4): [refusal()],  # no JSON at all
    marker(5): [Reply(429, retry_after=0), ok(GOOD[:2])],
    marker(6): [text('[{"question": "Who founded it?" "answer": oops')],  # broken JSON
    marker(7): [Reply(500), Reply(503), ok(GOOD[2:])],
    marker(8): [ok([CODE, ("Print it?", "print(x)")])],  # nothing survives the filters
    marker(9): [Reply(delay=2.0), ok(GOOD[:1])],  # slow: over the time limit, then fine
}


def test_job_yields_expected_pairs_counts_and_valid_shards(ocr_dataset, tmp_path):
    with LlmServer(SCRIPT) as server:
        out = run(config(ocr_dataset, tmp_path / "out", server))
        # exact request counts: retries for 429, 500/503 and the slow reply; one each otherwise
        assert server.by_marker == {
            **{marker(k): 1 for k in (0, 1, 2, 3, 4, 6, 8)},
            marker(5): 2,
            marker(7): 3,
            marker(9): 2,
        }
    report = validate_dataset(str(out))
    assert report.ok, report.problems
    got = samples(out)
    turns = {key: [(t["user"], t["assistant"]) for t in s["json"]["texts"]] for key, s in got.items()}
    assert turns == {
        "pdf0": GOOD,
        "pdf1": [GOOD[0], GOOD[1]],
        "pdf2": [GOOD[0], GOOD[2]],
        "pdf3": GOOD[:2],
        "pdf5": GOOD[:2],
        "pdf7": GOOD[2:],
        "pdf9": GOOD[:1],
    }
    for key, sample in got.items():
        meta = sample["json"]["meta"]
        assert sample["json"]["kind"] == "qa" and sample["json"]["source"] == f"reports/{key}.pdf"
        assert len(sample["images"]) == 3 and meta["pages"] == [1, 2, 3]  # all pages, in order
        assert [image["page"] for image in meta["images"]] == [1, 2, 3]
        assert meta["model"] == "scripted-model" and meta["template"]
        assert all(t["source"] == "docmatix" for t in sample["json"]["texts"])
    assert got["pdf2"]["json"]["meta"]["qa_filters"] == {
        "pairs_in": 6,
        "pairs_kept": 2,
        "dropped": {"duplicate_question": 1, "empty_answer": 1, "question_too_long": 1, "unsupported": 1},
    }
    assert "truncated" in got["pdf3"]["json"]["meta"]["parse_notes"]
    assert "fenced" in got["pdf1"]["json"]["meta"]["parse_notes"]

    generation = generate_stats(out, "LLM generation")
    assert generation["llm_requests"] == 14 and generation["llm_retries"] == 4
    assert generation["llm_succeeded"] == 10 and generation["llm_failed"] == 0
    assert generation["llm_completion_tokens"] > 0
    parse = generate_stats(out, "QA parse")
    assert parse["dropped_unparseable_no_json"] == 1 and parse["dropped_unparseable_invalid_json"] == 1
    filters = generate_stats(out, "QA filters")
    assert {k: v for k, v in filters.items() if k.startswith("pairs_dropped_")} == {
        "pairs_dropped_answer_code": 3,
        "pairs_dropped_unanswerable": 1,
        "pairs_dropped_duplicate_question": 1,
        "pairs_dropped_unsupported": 1,
        "pairs_dropped_empty_answer": 1,
        "pairs_dropped_question_too_long": 1,
    }
    assert filters["dropped_no_pairs_left"] == 1
    assert excluded_counts(out) == {
        "answer_code": 3,
        "unanswerable": 1,
        "duplicate_question": 1,
        "unsupported": 1,
        "empty_answer": 1,
        "question_too_long": 1,
        "no_pairs_left": 1,
        "unparseable_no_json": 1,
        "unparseable_invalid_json": 1,
    }


def test_resume_asks_only_for_missing_documents_and_shards_are_deterministic(ocr_dataset, tmp_path):
    script = {marker(k): [ok(GOOD)] for k in range(10)}
    script[marker(3)] = [Reply(500)]  # fails every try: the task fails after the others are staged
    with LlmServer(script) as server:
        cfg = config(ocr_dataset, tmp_path / "out", server, "llm.max_attempts=2")
        with pytest.raises(StageFailed, match="generate"):
            run(cfg)
        first = dict(server.by_marker)
        assert first[marker(3)] == 2 and all(n == 1 for m, n in first.items() if m != marker(3))
        staged = list((tmp_path / "out/qa/_stage/responses").glob("*.parquet"))
        assert staged and not list((tmp_path / "out/qa/_stage/responses").glob("*.tmp"))

        server.script[marker(3)] = [ok(GOOD)]
        server.reset_counters()
        out = run(cfg)
        second = dict(server.by_marker)
        # the local executor stops at the failed task: the tasks after it run now, the failed one
        # asks only for its document without a staged response
        assert second[marker(3)] == 1 and not (set(second) - {marker(3)}) & set(first)
        assert set(first) | set(second) == {marker(k) for k in range(10)}
        assert server.requests == 10 - (len(first) - 1)
        assert validate_dataset(str(out)).ok
        assert sorted(samples(out)) == [f"pdf{k}" for k in range(10)]

        # same staged responses + config, fresh output: nothing asked, byte-identical shards
        server.reset_counters()
        again = tmp_path / "again"
        shutil.copytree(out / "_stage/responses", again / "qa/_stage/responses")
        second = run(config(ocr_dataset, again, server, "llm.max_attempts=2"))
        assert server.requests == 0
        assert shard_hashes(second) == shard_hashes(out)

        # a changed prompt setting is a different request: asked again
        shutil.copytree(out / "_stage/responses", again / "x/qa/_stage/responses")
        third = run(config(ocr_dataset, again / "x", server, "generation.pairs_per_page=2"))
        assert server.requests == 10 and validate_dataset(str(third)).ok


def test_per_page_unit_and_token_budget(ocr_dataset, tmp_path):
    with LlmServer(default=ok(GOOD[:1])) as server:
        out = run(
            config(
                ocr_dataset, tmp_path / "pages", server, "generation.unit=page", "qa_filters.min_support=0"
            )
        )
        assert server.requests == 30
        got = samples(out)
        assert len(got) == 30 and all(len(s["images"]) == 1 for s in got.values())
        assert got["pdf4-p00002"]["json"]["source"] == "reports/pdf4.pdf#page=2"

        # a context that leaves room for about one page: later pages are cut or left out
        server.reset_counters()
        cfg = config(
            ocr_dataset, tmp_path / "cut", server, "llm.context_tokens=512", "llm.max_new_tokens=256"
        )
        out = run(cfg)
        assert len(server.payloads) == 10
        for payload in server.payloads:
            prompt = "\n".join(m["content"] for m in payload["messages"])
            assert TokenCounter().count(prompt) + 2 * 16 <= 512 - 256
            assert "Page 3:" not in prompt
        cut = samples(out)
        assert len(cut) == 10
        for sample in cut.values():
            meta = sample["json"]["meta"]
            assert meta["pages_cut"] and len(sample["images"]) == len(meta["pages"]) < 3


def test_reader_groups_pages_per_pdf_across_tasks(ocr_dataset):
    seen = {}
    for rank in range(3):
        for doc in OcrPdfReader([str(ocr_dataset)]).run(None, rank, 3):
            assert doc.id not in seen
            seen[doc.id] = [p["page"] for p in doc.metadata["pages"]]
    assert seen == {f"pdf{k}": [1, 2, 3] for k in range(10)}


def test_fit_pages_with_a_real_tokenizer(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(PAGES, trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    path = tmp_path / "tokenizer.json"
    tokenizer.save(str(path))
    counter = TokenCounter(str(path))
    pages = [(n + 1, page.format(m="x")) for n, page in enumerate(PAGES)]
    first = counter.count("Page 1:\n" + pages[0][1]) + 1
    kept, cut = fit_pages(pages, first + 10, counter)
    assert cut and kept[0] == pages[0] and len(kept) == 2
    assert counter.count(kept[1][1]) <= 10 - counter.count("Page 2:\n") and kept[1][1]
    assert fit_pages(pages, 10_000, counter) == (pages, False)


def test_vllm_and_sglang_paths_are_configured_through_datatrove(tmp_path):
    cfg = load_config(
        DocmatixConfig,
        None,
        ["dataset=x", f"ocr=[{tmp_path}]", "llm.backend=vllm", "llm.model=/models/llm", "llm.tp=2",
         "llm.model_kwargs={gpu-memory-utilization: 0.9}", "llm.gpus_per_task=2"],
    )  # fmt: skip
    kwargs = inference_kwargs(cfg.llm, str(tmp_path / "logs"))
    assert (kwargs["server_type"], kwargs["model_name_or_path"], kwargs["tp"]) == ("vllm", "/models/llm", 2)
    assert kwargs["model_max_context"] == cfg.llm.context_tokens and kwargs["use_chat"]
    assert kwargs["model_kwargs"] == {"gpu-memory-utilization": 0.9}
    # every argument is a field of datatrove's InferenceConfig (importing it needs the inference
    # extra, absent here: read its source)
    import datatrove

    source = (Path(datatrove.__file__).parent / "pipeline/inference/run_inference.py").read_text()
    fields = source[source.index("class InferenceConfig") : source.index("def __post_init__")]
    assert all(f"\n    {key}:" in fields for key in kwargs), kwargs
    with pytest.raises(RuntimeError, match="install vllm and datatrove"):
        datatrove_server(cfg.llm, 0, None)  # vLLM is not installed on this machine


def test_generate_stage_asks_for_gpus_with_a_server_backend(ocr_dataset, tmp_path):
    from pipelines.docmatix import generate_stage

    base = [f"ocr=[{ocr_dataset}]", "dataset=x", f"output_dir={tmp_path}"]
    stage = generate_stage(
        load_config(DocmatixConfig, None, [*base, "llm.backend=sglang", "llm.gpus_per_task=1"])
    )
    assert stage.options == {"gpus_per_task": 1}
    endpoint = load_config(DocmatixConfig, None, [*base, "llm.endpoint_url=http://127.0.0.1:1/v1"])
    assert generate_stage(endpoint).options == {}


def test_shipped_config_and_import_keys():
    from schemas.config import describe_options
    from schemas.config_docmatix import CauldronImportConfig

    assert all(description for _, _, description in describe_options(CauldronImportConfig))
    cfg = load_config(DocmatixConfig, Path(__file__).parents[1] / "configs/docmatix.yaml")
    assert cfg.llm.backend == "endpoint" and cfg.generation.unit == "pdf"


def test_recipe_defaults():
    """The published recipe by default: Phi-3-small, five prompt templates, English pages."""
    from schemas.config_docmatix import RECIPE_TEMPLATES
    from synth.qa_prompts import TEMPLATE_NAMES

    for cfg in (
        DocmatixConfig(ocr=["x"], dataset="x"),
        load_config(DocmatixConfig, Path(__file__).parents[1] / "configs/docmatix.yaml"),
    ):
        assert cfg.llm.model == "microsoft/Phi-3-small-8k-instruct"
        assert cfg.generation.templates == list(RECIPE_TEMPLATES) and len(set(RECIPE_TEMPLATES)) == 5
        assert set(RECIPE_TEMPLATES) < set(TEMPLATE_NAMES)
        assert cfg.generation.languages == ["en"]


def test_reader_keeps_the_configured_languages(tmp_path):
    """meta.lang from the pdf_ocr job: other languages are counted, pages without it are kept."""
    documents = ocr_pages(3)
    for doc in documents:
        page = doc.metadata["meta"]["page"]
        doc.metadata["meta"]["lang"] = {1: "en", 2: "de"}.get(page)  # page 3: no language recorded
    stage_documents(documents, str(tmp_path / "staged"), files=1)
    dataset = pack(tmp_path / "staged", tmp_path / "out", "ocr", "pages")
    reader = OcrPdfReader([str(dataset)], languages=["en"])
    pages = {doc.id: [p["page"] for p in doc.metadata["pages"]] for doc in reader.run(None, 0, 1)}
    assert pages == {f"pdf{k}": [1, 3] for k in range(3)}
    assert reader.stats["pages_other_language"].total == 3
