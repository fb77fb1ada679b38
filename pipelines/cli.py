"""``vlmdata``: run jobs, validate their shards.

vlmdata run JOB --config configs/JOB.yaml [key=value ...]
vlmdata validate OUT/DATASET
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pipelines.executors import StageFailed, configure_logging, run_stages
from pipelines.jobs import JOBS, Job
from schemas.config import ConfigError, describe_options, load_config
from schemas.manifest import MANIFEST
from schemas.validate import validate_dataset


def _options_help(job: Job) -> str:
    rows = describe_options(job.config_model)
    width = max(len(key) for key, _, _ in rows)
    lines = ["configuration keys (set in the YAML file or as key=value after it):"]
    for key, default, description in rows:
        lines.append(f"  {key:<{width}}  {description} [default: {default}]")
    return "\n".join(lines)


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
            "--executor",
            choices=["local", "ray", "slurm"],
            help="where tasks run: local processes, a Ray cluster (embedded when no --ray-address or "
            "RAY_ADDRESS), or Slurm; overrides executor.kind",
        )
        sub.add_argument(
            "--ray-address", help="address of a running Ray cluster; overrides executor.ray_address"
        )
        sub.add_argument("--no-progress", action="store_true", help="do not draw progress bars")
        sub.add_argument(
            "--log-level",
            default="WARNING",
            choices=["DEBUG", "INFO", "WARNING", "ERROR"],
            help="driver log level; INFO prints datatrove's per-step statistics [default: WARNING]",
        )
        sub.add_argument(
            "overrides", nargs="*", metavar="key=value", help="config overrides, e.g. executor.tasks=4"
        )

    validate = commands.add_parser(
        "validate",
        help="check shards against the manifest and the sample schemas",
        description="Check every shard of OUT/DATASET against manifest.json (sha256, sizes, sample and "
        "image counts, missing or extra shards) and every sample against its kind's JSON Schema. "
        "Lists each problem; exits 1 when there is any.",
    )
    validate.add_argument("dataset_dir", metavar="OUT/DATASET")

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
    stages = job.build(cfg)
    started = time.monotonic()
    print(
        f"vlmdata run {job.name}: {len(stages)} stages -> {cfg.dataset_dir} (executor: {cfg.executor.kind})",
        file=sys.stderr,
    )
    run_stages(stages, cfg.executor, cfg.dataset_dir, progress=not args.no_progress)
    if cfg.executor.kind == "slurm":
        print(f"submitted to Slurm; logs under {cfg.dataset_dir}/_logs/")
        return 0
    manifest = Path(cfg.dataset_dir) / MANIFEST
    where = (
        manifest
        if manifest.exists()
        else f"{cfg.dataset_dir} (staged documents under _stage/{stages[-1].name}/)"
    )
    print(f"done in {time.monotonic() - started:.1f} s: {where}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    report = validate_dataset(args.dataset_dir)
    for problem in report.problems:
        print(problem)
    verdict = "ok" if report.ok else f"{len(report.problems)} problems"
    print(f"{args.dataset_dir}: {report.shards} shards, {report.samples} samples checked: {verdict}")
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "inspect-html":
            from pipelines.inspect_html import run_inspect

            return run_inspect(args.files, args.url, args.urls, args.raw)
        if args.command == "demo":
            from pipelines.demo import run_demo

            configure_logging(args.log_level)
            return run_demo(args.out, args.documents, args.executor)
        return cmd_validate(args)
    except (ConfigError, StageFailed) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
