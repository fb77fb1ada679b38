"""Small instruction and conversation files in the public layouts, with planted bad rows.

``python -m synth.demo.instructions OUT`` writes, under ``OUT``:

- ``alpaca.jsonl``: instruction / input / output rows (text only, as Alpaca and Dolly publish);
- ``sharegpt.jsonl``: multi-turn ``conversations`` with a system prompt (text only);
- ``messages.parquet``: chat ``messages`` with ``images`` as the Hugging Face Image feature
  ({bytes, path}), the content as a list of parts (``{type: image}`` or ``{type: text, text}``;
  one row writes ``<image>`` in its text instead);
- ``llava.json`` + ``images/``: LLaVA-Instruct rows (``<image>`` in the first human turn, an
  ``image`` path relative to the file);
- ``eval_pairs.jsonl`` + ``eval/``: an evaluation (image, question) pair that one LLaVA row repeats,
  for decontamination.

``EXPECTED[layout]`` says what an import must keep and drop (reason -> rows) for each file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from synth.demo.documents import make_image

GOOD_ALPACA = [
    {"instruction": "Name the largest planet of the solar system.", "input": "", "output": "Jupiter."},
    {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour."},
    {"instruction": "Add the numbers.", "input": "17 and 25", "output": "42"},
    {"instruction": "Give a synonym of quick.", "output": "Fast."},
]
BAD_ALPACA = [
    {"instruction": "Say nothing.", "input": "", "output": ""},  # empty_answer
    {"instruction": "", "input": "", "output": "An answer to nothing."},  # empty_question
    {"instruction": "Write a long essay.", "input": "", "output": "word " * 6000},  # too_many_tokens
]
SHAREGPT = [
    {
        "conversations": [
            {"from": "system", "value": "You are a concise assistant."},
            {"from": "human", "value": "What is the boiling point of water at sea level?"},
            {"from": "gpt", "value": "100 degrees Celsius."},
            {"from": "human", "value": "And in Fahrenheit?"},
            {"from": "gpt", "value": "212 degrees Fahrenheit."},
        ]
    },
    {
        "conversations": [
            {"from": "human", "value": "Name a prime number above 10."},
            {"from": "gpt", "value": "11."},
            {"from": "human", "value": "Thanks!"},  # trailing user turn: removed, row kept
        ]
    },
    {
        "conversations": [
            {"from": "human", "value": "What is the capital of Italy?"},
            {"from": "gpt", "value": "Rome."},
            {"from": "human", "value": "And of Spain?"},
            {"from": "gpt", "value": ""},  # an empty last answer: that turn removed, the first kept
        ]
    },
    {"conversations": [{"from": "gpt", "value": "I speak first."}]},  # no_user_turn
    {
        "conversations": [
            {"from": "human", "value": "One?"},
            {"from": "human", "value": "Two?"},  # roles_out_of_order
            {"from": "gpt", "value": "Three."},
        ]
    },
    {"conversations": [{"from": "narrator", "value": "Once upon a time."}]},  # unknown_role
    {"conversations": [{"from": "human", "value": "Is anyone there?"}]},  # no_assistant_turn
]
QUESTION = "What colour is the car?"

EXPECTED = {
    "alpaca": {"kept": 4, "dropped": {"empty_answer": 1, "empty_question": 1, "too_many_tokens": 1}},
    "sharegpt": {
        "kept": 3,
        "dropped": {"no_user_turn": 1, "roles_out_of_order": 1, "unknown_role": 1, "no_assistant_turn": 1},
    },
    "messages": {"kept": 3, "dropped": {"image_placeholders_mismatch": 1, "bad_image": 1}},
    "llava": {"kept": 4, "dropped": {"missing_image": 1, "image_placeholders_mismatch": 1}},
}


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def write_messages(path: Path) -> None:
    image = {"bytes": make_image(1, 96, 64), "path": "a.jpg"}
    other = {"bytes": make_image(2, 64, 96), "path": "b.jpg"}
    broken = {"bytes": make_image(3, 64, 64)[:200], "path": "broken.jpg"}  # bad_image
    rows = [
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image"}, {"type": "text", "text": "Describe the picture."}],
                },
                {
                    "role": "assistant",
                    "content": [{"type": "text", "text": "Coloured shapes on a gradient."}],
                },
            ],
            "images": [image],
        },
        {  # two images, two image parts, two turns
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": "Answer briefly."}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "image"},
                        {"type": "image"},
                        {"type": "text", "text": "Which is wider?"},
                    ],
                },
                {"role": "assistant", "content": [{"type": "text", "text": "The first."}]},
                {"role": "user", "content": [{"type": "text", "text": "And taller?"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "The second."}]},
            ],
            "images": [image, other],
        },
        {  # text only
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Spell cat backwards."}]},
                {"role": "assistant", "content": [{"type": "text", "text": "tac"}]},
            ],
            "images": [],
        },
        {  # one image part, two images: image_placeholders_mismatch
            "messages": [
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is it?"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "A picture."}]},
            ],
            "images": [image, other],
        },
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "<image>\nWhat is this?"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "Noise."}]},
            ],
            "images": [broken],
        },
    ]
    pq.write_table(pa.Table.from_pylist(rows), path)


def write_llava(folder: Path) -> None:
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    for n in range(3):
        (images / f"{n:03d}.jpg").write_bytes(make_image(10 + n, 96, 72))
    rows = [
        {
            "id": "000",
            "image": "images/000.jpg",
            "conversations": [
                {"from": "human", "value": "<image>\nWhat is in the picture?"},
                {"from": "gpt", "value": "Shapes on a gradient."},
                {"from": "human", "value": "How many?"},
                {"from": "gpt", "value": "A few."},
            ],
        },
        {  # the evaluation pair: the evaluation image with the evaluation question
            "id": "001",
            "image": "images/001.jpg",
            "conversations": [
                {"from": "human", "value": f"{QUESTION}\n<image>"},
                {"from": "gpt", "value": "Red."},
            ],
        },
        {  # the evaluation image, another question: kept
            "id": "002",
            "image": "images/001.jpg",
            "conversations": [
                {"from": "human", "value": "<image>\nIs it daytime?"},
                {"from": "gpt", "value": "Yes."},
            ],
        },
        {  # the evaluation question, another image: kept
            "id": "003",
            "image": "images/002.jpg",
            "conversations": [
                {"from": "human", "value": f"<image>\n{QUESTION}"},
                {"from": "gpt", "value": "Blue."},
            ],
        },
        {  # missing_image
            "id": "004",
            "image": "images/999.jpg",
            "conversations": [
                {"from": "human", "value": "<image>\nWhat is it?"},
                {"from": "gpt", "value": "Nothing."},
            ],
        },
        {  # two placeholders, one image: image_placeholders_mismatch
            "id": "005",
            "image": "images/000.jpg",
            "conversations": [
                {"from": "human", "value": "<image>\n<image>\nCompare."},
                {"from": "gpt", "value": "Same."},
            ],
        },
    ]
    (folder / "llava.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    evaluation = folder / "eval"
    evaluation.mkdir(exist_ok=True)
    (evaluation / "car.jpg").write_bytes(make_image(11, 96, 72))  # the bytes of images/001.jpg
    _jsonl(folder / "eval_pairs.jsonl", [{"image": "eval/car.jpg", "question": "what colour is the car"}])


def write_all(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    _jsonl(out / "alpaca.jsonl", GOOD_ALPACA[:2] + BAD_ALPACA + GOOD_ALPACA[2:])
    _jsonl(out / "sharegpt.jsonl", SHAREGPT)
    write_messages(out / "messages.parquet")
    write_llava(out)
    return out


if __name__ == "__main__":
    print(write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "demo-out/instructions")))
