"""``python -m tests.recaption_demo [key=value ...]``: the pairs job with synthetic captions
(``configs/recaption.yaml``) against the tests' scripted vision-language server on 127.0.0.1 (it
answers with the dominant colour of each image, now and then a refusal or a loop), for
``make recaption`` on a machine without a VLM. Needs the demo corpus (``make demo``)."""

from __future__ import annotations

import sys

from pipelines.cli import main
from tests.llm_server import LlmServer, refusal, seen, text


def run(overrides: list[str]) -> int:
    script = {
        "Write a short caption": [seen("right")],
        "Describe this image": [refusal(), text("a photo a photo a photo a photo a photo"), seen("right")],
    }
    with LlmServer(script, models=("HuggingFaceTB/SmolVLM-Instruct",)) as server:
        print(f"scripted VLM server: {server.url}", file=sys.stderr)
        args = [
            "run",
            "pairs",
            "--config",
            "configs/recaption.yaml",
            f"recaption.llm.endpoint_url={server.url}",
        ]
        return main([*args, *overrides])


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
