"""``vlmdata``: run jobs, validate their shards.

vlmdata run JOB --config configs/JOB.yaml [key=value ...]
vlmdata import cauldron PATH [--config FILE] [key=value ...]
vlmdata validate OUT/DATASET
vlmdata takedown OUT/DATASET --url URL | --sha256 H | --list FILE
vlmdata report OUT/DATASET [--out FILE]
vlmdata stats OUT/DATASET
vlmdata train --config configs/train.yaml [key=value ...]
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import time
from pathlib import Path

import fsspec
import yaml

from pipelines.executors import StageFailed, configure_logging, run_stages
from pipelines.jobs import JOBS, Job
from pipelines.local_web_run import local_web_for
from schemas.config import ConfigError, JobConfig, describe_options, load_config
from schemas.config_docmatix import CauldronImportConfig
from schemas.config_instruct import ConversationImportConfig
from schemas.manifest import MANIFEST
from schemas.validate import validate_dataset

IMPORTS = {  # format: (config, builder, summary)
    "cauldron": (
        CauldronImportConfig,
        "pipelines.cauldron:build_cauldron_import",
        "The Cauldron-format parquet (`images`: list of {bytes, path}; `texts`: list of {user, assistant, "
        "source}) -> qa shards",
    ),
    "messages": (
        ConversationImportConfig,
        "pipelines.conversations:build_conversation_import",
        "chat `messages` [{role, content}] (+ `images`) in .jsonl/.json/.parquet -> qa shards",
    ),
    "alpaca": (
        ConversationImportConfig,
        "pipelines.conversations:build_conversation_import",
        "instruction / input / output rows (text only) -> qa shards",
    ),
    "llava": (
        ConversationImportConfig,
        "pipelines.conversations:build_conversation_import",
        "LLaVA `conversations` [{from, value}] with `<image>` and an `image` path -> qa shards",
    ),
    "sharegpt": (
        ConversationImportConfig,
        "pipelines.conversations:build_conversation_import",
        "ShareGPT `conversations` [{from: system|human|gpt, value}] -> qa shards",
    ),
}
IMPORT_CONFIG = {name: "cauldron.yaml" if name == "cauldron" else "conversations.yaml" for name in IMPORTS}


def _options_help(job: Job) -> str:
    rows = describe_options(job.config_model)
    width = max(len(key) for key, _, _ in rows)
    lines = ["configuration keys (set in the YAML file or as key=value after it):"]
    for key, default, description in rows:
        lines.append(f"  {key:<{width}}  {description} [default: {default}]")
    return "\n".join(lines)


def _run_options(sub: argparse.ArgumentParser, example: str) -> None:
    """The options every job run and import takes: executor, progress, log level, overrides."""
    sub.add_argument(
        "--executor",
        choices=["local", "ray", "slurm"],
        help="where tasks run: local processes, a Ray cluster (embedded when no --ray-address or "
        "RAY_ADDRESS), or Slurm; overrides executor.kind",
    )
    sub.add_argument("--no-progress", action="store_true", help="do not draw progress bars")
    sub.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="driver log level; INFO prints datatrove's per-step statistics [default: WARNING]",
    )
    sub.add_argument("overrides", nargs="*", metavar="key=value", help=f"config overrides, e.g. {example}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vlmdata",
        description="Curate vision-language training data into WebDataset shards.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run a job",
        description="Run a job: its stages in order, each resuming where an earlier run stopped.",
    )
    jobs = run.add_subparsers(dest="job", required=True, metavar="JOB")
    for job in JOBS.values():
        sub = jobs.add_parser(
            job.name,
            help=job.summary,
            description=f"{job.name}: {job.summary}",
            epilog=_options_help(job),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument("--config", help=f"YAML file of the job (e.g. configs/{job.name}.yaml)")
        sub.add_argument(
            "--ray-address", help="address of a running Ray cluster; overrides executor.ray_address"
        )
        _run_options(sub, "executor.tasks=4")

    importer = commands.add_parser(
        "import",
        help="convert public data into qa shards (The Cauldron, instruction and conversation data)",
        description="Convert published data sets into shards with a manifest, like every job's output.",
    )
    formats = importer.add_subparsers(dest="format", required=True, metavar="FORMAT")
    for name, (config_model, builder, summary) in IMPORTS.items():
        sub = formats.add_parser(
            name,
            help=summary,
            description=f"{name}: {summary}. dataset defaults to the name of PATH; configs/{IMPORT_CONFIG[name]} "
            "holds the keys most imports set.",
            epilog=_options_help(Job(name, "", config_model, builder)),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument("path", metavar="PATH", help="a file, a folder of them (recursive) or a glob")
        sub.add_argument("--config", help="YAML file of the import's keys (e.g. output_dir, shards.*)")
        _run_options(sub, "dataset=ai2d")

    validate = commands.add_parser(
        "validate",
        help="check shards against the manifest and the sample schemas",
        description="Check every shard of OUT/DATASET against manifest.json (sha256, sizes, sample and "
        "image counts, missing or extra shards) and every sample against its kind's JSON Schema. "
        "Lists each problem; exits 1 when there is any.",
    )
    validate.add_argument("dataset_dir", metavar="OUT/DATASET")

    takedown = commands.add_parser(
        "takedown",
        help="remove samples matching a URL or image sha256 from published shards",
        description="Remove every sample of OUT/DATASET whose source or image URL, or image sha256, is "
        "given: only the affected shards are rewritten (same names), manifest.json and sizes.json are "
        "updated, and what was removed is recorded in OUT/DATASET/_takedowns/<timestamp>.json.",
    )
    takedown.add_argument("dataset_dir", metavar="OUT/DATASET")
    takedown.add_argument("--url", action="append", default=[], help="a page or image URL (repeatable)")
    takedown.add_argument(
        "--sha256", action="append", default=[], help="an image's sha256 hex digest (repeatable)"
    )
    takedown.add_argument(
        "--list", dest="list_file", metavar="FILE", help="file of URLs and sha256 digests, one a line"
    )
    takedown.add_argument("--reason", default="takedown request", help="why, recorded with the takedown")

    report = commands.add_parser(
        "report",
        help="write the auditor's report of a run (HTML and JSON)",
        description="Build the auditor's report of OUT/DATASET from what the run wrote (stats, exclusions, "
        "histograms, manifest): one self-contained HTML file and report.json with the same figures.",
    )
    report.add_argument("dataset_dir", metavar="OUT/DATASET")
    report.add_argument(
        "--out", metavar="FILE", help="HTML file to write (JSON beside it) [default: OUT/DATASET/report.html]"
    )

    stats = commands.add_parser(
        "stats",
        help="print the funnel of a run as a table",
        description="Print documents, paragraphs and images in and out of every step of every stage of "
        "OUT/DATASET, with the drops per reason, summed over all tasks.",
    )
    stats.add_argument("dataset_dir", metavar="OUT/DATASET")

    inspect = commands.add_parser(
        "inspect-html",
        help="print pages as extraction and the node-level filters leave them (JSON lines)",
        description="One JSON line per file: the page in the OBELICS layout ({texts, images} aligned, "
        "images as URLs) plus metadata, after extraction and the node-level filters (--raw: before them).",
    )
    inspect.add_argument("files", nargs="+", metavar="FILE", help="HTML files")
    inspect.add_argument("--url", help="page URL for every file (relative images resolve against it)")
    inspect.add_argument(
        "--urls", metavar="MAP.json", help="JSON mapping file name -> URL (or -> {url: ...})"
    )
    inspect.add_argument("--raw", action="store_true", help="stop after extraction, before any filter")

    commands.add_parser(
        "train",
        help="train an Idefics2/Idefics3-style model on shard datasets (needs the `train` extra)",
        add_help=False,  # `vlmdata train ...` is handed whole to training.cli (see main)
    )
    commands.add_parser(
        "ablate",
        help="train and evaluate variants x seeds of a training config; ablation.json and .html",
        add_help=False,  # handed whole to training.ablate (see main)
    )

    demo = commands.add_parser(
        "demo",
        help="run the embedded demo (no network, no inputs needed)",
        description="Generate a small synthetic corpus and run every job that exists on it, end to end.",
    )
    demo.add_argument(
        "--out", default="demo-out", help="folder for the corpus and the datasets [default: demo-out]"
    )
    demo.add_argument("--documents", type=int, default=200, help="documents per kind [default: 200]")
    demo.add_argument(
        "--executor", choices=["local", "ray"], default="ray", help="executor [default: ray, embedded]"
    )
    demo.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="driver log level [default: WARNING]",
    )
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    job = JOBS[args.job]
    overrides = list(args.overrides)
    if args.executor:
        overrides.append(f"executor.kind={args.executor}")
    if args.ray_address:
        overrides.append(f"executor.ray_address={args.ray_address}")
    cfg = load_config(job.config_model, args.config, overrides)
    configure_logging(args.log_level, cfg.executor)
    with local_web_for(cfg) as port:
        if port is not None:
            print(
                f"fetch.local_web: the demo's hosts are served on 127.0.0.1:{port} for this run",
                file=sys.stderr,
            )
        return execute(job.name, cfg, job.build(cfg), progress=not args.no_progress)


def cmd_import(args: argparse.Namespace) -> int:
    config_model, builder, _ = IMPORTS[args.format]
    overrides = list(args.overrides)
    if args.executor:
        overrides.append(f"executor.kind={args.executor}")
    if args.format != "cauldron":
        overrides.insert(0, f"layout={args.format}")
    named = any(o.split("=", 1)[0].strip() == "dataset" for o in overrides)
    if not named and args.config and Path(args.config).is_file():
        named = "dataset" in (yaml.safe_load(Path(args.config).read_text("utf-8")) or {})
    if not named:
        stem = re.sub(r"\.(parquet|jsonl|json)$", "", Path(args.path.rstrip("/")).name)
        overrides.insert(0, f"dataset={re.sub(r'[^A-Za-z0-9_-]+', '_', stem).strip('_') or args.format}")
    cfg = load_config(config_model, args.config, overrides)
    cfg.input = [args.path]
    configure_logging(args.log_level, cfg.executor)
    if not cfg.governance.decontamination.enabled:
        print(
            f"warning: import {args.format}: no evaluation sets given, so nothing is decontaminated; set "
            "governance.decontamination.pairs (image + question), .texts or .images",
            file=sys.stderr,
        )
    module, function = builder.split(":")
    build = getattr(importlib.import_module(module), function)
    try:
        stages = build(cfg)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    return execute(f"import {args.format}", cfg, stages, progress=not args.no_progress)


def execute(name: str, cfg: JobConfig, stages: list, progress: bool = True) -> int:
    """Run a job's stages, then say where the output is and write the report."""
    started = time.monotonic()
    print(
        f"vlmdata {'' if name.startswith('import') else 'run '}{name}: {len(stages)} stages -> "
        f"{cfg.dataset_dir} (executor: {cfg.executor.kind})",
        file=sys.stderr,
    )
    run_stages(stages, cfg.executor, cfg.dataset_dir, progress=progress)
    if cfg.executor.kind == "slurm":
        print(f"submitted to Slurm; logs under {cfg.dataset_dir}/_logs/")
        return 0
    fs, root = fsspec.core.url_to_fs(cfg.dataset_dir)  # the output may be remote (s3://...)
    manifest = f"{cfg.dataset_dir}/{MANIFEST}"
    where = (
        manifest
        if fs.exists(f"{root}/{MANIFEST}")
        else f"{cfg.dataset_dir} (staged documents under _stage/{stages[-1].name}/)"
    )
    print(f"done in {time.monotonic() - started:.1f} s: {where}")
    write_run_report(cfg.dataset_dir, cfg.model_dump(mode="json"))
    return 0


def write_run_report(dataset_dir: str, config: dict) -> None:
    """The report at the end of a successful job; a failure to write it is reported, not fatal
    (the job's outputs are complete; ``vlmdata report`` writes it again)."""
    from audit.report import build_report

    try:
        html, _ = build_report(dataset_dir, config=config)
    except Exception as error:  # the shards are done: say what failed and how to retry
        print(f"warning: report not written ({type(error).__name__}: {error}); "
              f"run `vlmdata report {dataset_dir}` to retry", file=sys.stderr)  # fmt: skip
        return
    print(f"report: {html}")


def cmd_report(args: argparse.Namespace) -> int:
    from audit.report import build_report

    if not Path(args.dataset_dir, "_logs").is_dir() and "://" not in args.dataset_dir:
        print(f"error: {args.dataset_dir}: no _logs/ folder; give OUT/<dataset> of a run", file=sys.stderr)
        return 2
    html, data = build_report(args.dataset_dir, args.out)
    print(f"report: {html}\nfigures: {data}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from audit.stats import stats_table

    try:
        print(stats_table(args.dataset_dir))
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    report = validate_dataset(args.dataset_dir)
    for problem in report.problems:
        print(problem)
    verdict = "ok" if report.ok else f"{len(report.problems)} problems"
    print(f"{args.dataset_dir}: {report.shards} shards, {report.samples} samples checked: {verdict}")
    return 0 if report.ok else 1


def cmd_takedown(args: argparse.Namespace) -> int:
    from pipelines.takedown import takedown

    try:
        result = takedown(args.dataset_dir, args.url, args.sha256, args.list_file, args.reason)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"{args.dataset_dir}: {len(result.removed)} samples removed "
        f"({result.samples_before} -> {result.samples_after}); shards rewritten: {len(result.shards_rewritten)}, "
        f"removed: {len(result.shards_removed)}; record: {args.dataset_dir}/{result.record}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["train"]:
        from training.cli import main as train_main  # lazy: torch only for training

        return train_main(argv[1:])
    if argv[:1] == ["ablate"]:
        from training.ablate import main as ablate_main

        return ablate_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "import":
            return cmd_import(args)
        if args.command == "inspect-html":
            from pipelines.inspect_html import run_inspect

            return run_inspect(args.files, args.url, args.urls, args.raw)
        if args.command == "demo":
            from pipelines.demo import run_demo

            configure_logging(args.log_level)
            return run_demo(args.out, args.documents, args.executor)
        if args.command == "report":
            return cmd_report(args)
        if args.command == "stats":
            return cmd_stats(args)
        if args.command == "takedown":
            return cmd_takedown(args)
        return cmd_validate(args)
    except (ConfigError, StageFailed) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
