"""Small files of The Cauldron's sources, each in its own published layout, with planted bad rows.

``python -m synth.demo.instruct_sources OUT`` writes one folder per converter of
``pipelines.instruct.sources`` under ``OUT`` (parquet exports with images as ``{bytes, path}``;
the authors' JSON files with image files beside them) and ``EXPECTED[source]`` says what
``run instruct`` must make of each: samples, turns and dropped rows or turns per reason. The
VQAv2 image 9001 is also TallyQA's ``coco/COCO_train2014_000000009001.jpg`` (same bytes), and
TextCaps has it re-encoded (other bytes, the same picture): SHA-256 finds one image two sources
share, perceptual hashes the same image in three.
"""

from __future__ import annotations

import sys
from pathlib import Path

from synth.demo.documents import make_image
from synth.demo.instruct_json_sources import COCO, hf_image, image, parquet, write_json_sources
from synth.demo.instruct_later_sources import write_later_sources


def vqa_answers(*answers: str) -> list[dict]:
    return [{"answer": a, "answer_confidence": "yes", "answer_id": i + 1} for i, a in enumerate(answers)]


# source: (samples, turns, {reason: rows or turns dropped}) that run instruct must make of it
COUNTS = {
    "vqav2": (2, 3, {"duplicate_question": 1, "disagreeing_answers": 1, "bad_image": 1}),
    "okvqa": (1, 2, {"disagreeing_answers": 1}),
    "visual7w": (1, 2, {"ambiguous_choices": 1, "other_split": 1}),
    "vqarad": (1, 2, {"empty_answer": 1}),
    "textvqa": (1, 2, {"empty_answer": 1}),
    "docvqa": (1, 2, {"empty_answer": 1}),
    "iam": (1, 1, {"empty_answer": 1}),
    "tallyqa": (2, 2, {"missing_image": 1}),
    "chartqa": (1, 2, {"empty_question": 1}),
    "figureqa": (2, 3, {"bad_label": 1}),
    "tat_qa": (1, 2, {"misaligned_lists": 1}),
    "ai2d": (1, 1, {"skipped_abcLabel": 1, "answer_not_in_options": 1, "missing_image": 1}),
    "scienceqa": (1, 1, {"missing_image": 1, "answer_not_in_options": 1}),
    "iconqa": (1, 1, {"missing_image": 1}),
    "screen2words": (1, 1, {"empty_answer": 1}),
    "textcaps": (1, 1, {}),
    "websight": (1, 1, {}),
    "datikz": (1, 1, {}),
    "nlvr2": (1, 1, {"bad_image": 1}),
    "clevr": (1, 2, {"empty_question": 1}),
    "pathvqa": (1, 2, {"empty_answer": 1}),
    "mapqa": (1, 2, {"missing_image": 1}),
    "intergps": (1, 1, {"answer_not_in_options": 1}),
    "spot_the_diff": (1, 1, {"missing_image": 1}),
    "vsr": (1, 2, {"bad_label": 1}),
    "st_vqa": (1, 2, {"several_answers": 1, "other_set_name": 1}),
    "infographic_vqa": (1, 1, {"image_too_big": 1}),
    "vistext": (1, 1, {"missing_field": 1}),
    "diagram_image_to_text": (1, 1, {"empty_answer": 1}),
}
EXPECTED = {name: {"samples": s, "turns": t, "dropped": d} for name, (s, t, d) in COUNTS.items()}


def write_sources(out: str | Path) -> dict[str, Path]:
    """Every source's demo files under ``out``; returns source -> its input folder."""
    out = Path(out)
    coco = {"bytes": image(COCO), "path": "COCO_train2014_000000009001.jpg"}
    parquet(
        out / "vqav2/train-00000-of-00001.parquet",
        [
            {
                "image_id": COCO,
                "question_id": 1,
                "question": "What is this photo taken looking through?",
                "answers": vqa_answers(*["net"] * 8, "netting", "mesh"),
                "image": coco,
            },
            {
                "image_id": COCO,
                "question_id": 2,
                "question": "What color is the sky?",
                "answers": vqa_answers(*["blue"] * 9, "gray"),
                "image": coco,
            },
            {
                "image_id": COCO,
                "question_id": 3,
                "question": "What is this photo taken looking through?",
                "answers": vqa_answers(*["net"] * 10),
                "image": coco,
            },  # duplicate_question
            {
                "image_id": 9002,
                "question_id": 4,
                "question": "How many dogs are there?",
                "answers": vqa_answers(*["2"] * 7, *["3"] * 3),
                "image": hf_image(9002),
            },
            {
                "image_id": 9002,
                "question_id": 5,
                "question": "Is it raining?",  # disagreeing_answers
                "answers": vqa_answers(
                    "yes", "no", "maybe", "sunny", "cloudy", "wet", "dry", "unclear", "possibly", "not sure"
                ),
                "image": hf_image(9002),
            },
            {
                "image_id": 9003,
                "question_id": 6,
                "question": "What is on the table?",  # bad_image
                "answers": vqa_answers(*["cake"] * 10),
                "image": {"bytes": b"not an image", "path": "x.jpg"},
            },
        ],
    )
    parquet(
        out / "textvqa/train.parquet",
        [
            {
                "image_id": "t1",
                "question": "what brand is the phone?",
                "image": hf_image(101),
                "answers": ["nokia"] * 6 + ["nokla"] * 2 + ["no"] * 2,
            },
            {
                "image_id": "t1",
                "question": "what number is on the shirt?",
                "image": hf_image(101),
                "answers": ["23"] * 5 + ["22"] * 5,
            },
            {"image_id": "t2", "question": "what is written here?", "image": hf_image(102), "answers": []},
        ],
    )
    parquet(
        out / "docvqa/train.parquet",
        [
            {
                "docId": 1,
                "question": "What is the date mentioned in this letter?",
                "answers": ["1/8/93"],
                "image": hf_image(111),
            },
            {
                "docId": 1,
                "question": "what is the title of the memo?",
                "answers": ["Memo", "memo"],
                "image": hf_image(111),
            },
            {"docId": 2, "question": "Who signed the letter?", "answers": [], "image": hf_image(112)},
        ],
    )
    parquet(
        out / "iam/train.parquet",
        [
            {"image": hf_image(121, "png"), "text": "A MOVE to stop Mr. Gaitskell from nominating"},
            {"image": hf_image(122, "png"), "text": ""},
        ],
    )
    parquet(
        out / "tat_qa/train.parquet",
        [
            {
                "image": hf_image(161, "png"),
                "paragraphs": ["The company reported revenue.", "Costs rose."],
                "questions": ["What was the revenue in 2019?", "What is the change in costs?"],
                "answers": ["1.2", "5"],
                "scales": ["million", ""],
                "derivations": ["", "10 - 5"],
            },
            {
                "image": hf_image(162, "png"),
                "paragraphs": ["A table."],
                "questions": ["What is A?", "What is B?"],
                "answers": ["1"],
                "scales": ["", ""],
                "derivations": ["", ""],
            },
        ],
    )
    science = {
        "hint": "",
        "lecture": "Maps have four cardinal directions, or main directions.",
        "choices": ["West Virginia", "Louisiana", "Arizona", "Oklahoma"],
    }
    parquet(
        out / "scienceqa/train.parquet",
        [
            {
                "image": hf_image(181, "png"),
                "question": "Which of these states is farthest north?",
                "answer": 0,
                **science,
            },
            {"image": None, "question": "Which word does not rhyme?", "answer": 1, **science},
            {
                "image": hf_image(182, "png"),
                "question": "Which state is highlighted?",
                "answer": 7,
                **science,
            },
        ],
    )
    parquet(
        out / "screen2words/train.parquet",
        [
            {"image": hf_image(201, "png"), "text": "page showing login options"},
            {"image": hf_image(202, "png"), "text": " "},
        ],
    )
    parquet(
        out / "textcaps/train.parquet",
        [
            {
                "image": {"bytes": make_image(COCO, 96, 72, "jpg", quality=60), "path": "coco_again.jpg"},
                "reference_strs": ["a bottle of beer with a red label", "A red label on a bottle."],
            }
        ],
    )
    parquet(
        out / "websight/train.parquet",
        [{"image": hf_image(221, "png"), "text": "<html>\n<body><h1>Fresh bread</h1></body>\n</html>"}],
    )
    parquet(
        out / "datikz/train.parquet",
        [
            {
                "image": hf_image(231, "png"),
                "code": "\\begin{tikzpicture}\n\\draw (0,0) -- (1,1);\n\\end{tikzpicture}",
            }
        ],
    )
    parquet(
        out / "nlvr2/train.parquet",
        [
            {
                "left_image": hf_image(241),
                "right_image": hf_image(242),
                "sentence": "There are two dogs.",
                "label": 1,
            },
            {
                "left_image": hf_image(243),
                "right_image": {"bytes": b"\xff\xd8broken", "path": "r.jpg"},
                "sentence": "One image shows a cat.",
                "label": 0,
            },
        ],
    )
    write_json_sources(out)
    write_more_sources(out)
    write_later_sources(out)
    return {name: out / name for name in EXPECTED}


def write_more_sources(out: Path) -> None:
    """OK-VQA and VQA-RAD (added after the first sixteen; Visual7W is a JSON source)."""
    answers = [{"answer": a, "raw_answer": a, "answer_confidence": "yes", "answer_id": i + 1} for i, a in
               enumerate(["race"] * 6 + ["motocross"] * 4)]  # fmt: skip
    scattered = [
        {"answer": str(i), "raw_answer": str(i), "answer_confidence": "no", "answer_id": i} for i in range(10)
    ]
    parquet(
        out / "okvqa/train.parquet",
        [
            {"image_id": 251, "question": "What sport can you use this for?", "answers": answers, "image": hf_image(251)},
            {"image_id": 251, "question": "Which brand made this?", "answers": answers[:2] + answers[6:9],
             "image": hf_image(251)},
            {"image_id": 251, "question": "How old is it?", "answers": scattered, "image": hf_image(251)},
        ],
    )  # fmt: skip
    scan = hf_image(271, "png")
    parquet(
        out / "vqarad/train.parquet",
        [
            {"image": scan, "question": "is the MRI normal?", "answer": "no"},
            {"image": scan, "question": "where is the lesion?", "answer": "left temporal lobe"},
            {"image": hf_image(272, "png"), "question": "is there a fracture?", "answer": ""},
        ],
    )


if __name__ == "__main__":
    for name, path in write_sources(
        sys.argv[1] if len(sys.argv) > 1 else "demo-out/instruct-sources"
    ).items():
        print(f"{name}: {path}")
