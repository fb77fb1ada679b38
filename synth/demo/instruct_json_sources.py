"""The demo files of The Cauldron's sources published as JSON with image files beside them
(TallyQA, ChartQA, FigureQA, AI2D, IconQA, Visual7W), each in its own layout, with planted bad rows,
and the helpers every demo source uses (``hf_image``, ``parquet``); ``synth.demo.instruct_sources``
writes them with the parquet sources and says what to expect."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from synth.demo.documents import make_image

COCO = 9001  # the image VQAv2 and TallyQA share


def image(seed: int, fmt: str = "jpg") -> bytes:
    return make_image(seed, 96, 72, fmt)


def hf_image(seed: int | None, fmt: str = "jpg") -> dict | None:
    """The Hugging Face Image feature as parquet stores it."""
    return None if seed is None else {"bytes": image(seed, fmt), "path": f"{seed}.{fmt}"}


def parquet(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def jsonfile(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def picture(path: Path, seed: int, fmt: str = "png") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image(seed, fmt))


def write_json_sources(out: Path) -> None:
    (out / "tallyqa/coco").mkdir(parents=True, exist_ok=True)
    (out / "tallyqa/coco/COCO_train2014_000000009001.jpg").write_bytes(image(COCO))
    picture(out / "tallyqa/VG_100K/2.jpg", 131, "jpg")
    jsonfile(
        out / "tallyqa/train.json",
        [
            {
                "image": "coco/COCO_train2014_000000009001.jpg",
                "question": "How many nets are there?",
                "answer": 1,
                "data_source": "amt",
                "image_id": COCO,
                "question_id": 1,
            },
            {
                "image": "VG_100K/2.jpg",
                "question": "How many people are in the photo?",
                "answer": 3,
                "data_source": "imported_genome",
                "image_id": 2,
                "question_id": 2,
            },
            {
                "image": "VG_100K/missing.jpg",
                "question": "How many cars are there?",
                "answer": 2,
                "data_source": "amt",
                "image_id": 3,
                "question_id": 3,
            },
        ],
    )
    picture(out / "chartqa/train/png/two_col_1.png", 141)
    picture(out / "chartqa/train/png/two_col_2.png", 142)
    jsonfile(
        out / "chartqa/train/train_human.json",
        [
            {"imgname": "two_col_1.png", "query": "What is the value of Japan?", "label": "56"},
            {"imgname": "two_col_1.png", "query": "Is the value of Japan greater than 50?", "label": "Yes"},
            {"imgname": "two_col_2.png", "query": "", "label": "3"},
        ],
    )
    picture(out / "figureqa/train1/png/0.png", 151)
    picture(out / "figureqa/train1/png/1.png", 152)
    jsonfile(
        out / "figureqa/train1/qa_pairs.json",
        {
            "qa_pairs": [
                {
                    "image_index": 0,
                    "question_string": "Is Dark Blue the minimum?",
                    "answer": 1,
                    "question_id": 0,
                },
                {
                    "image_index": 0,
                    "question_string": "Is Red the high median?",
                    "answer": 0,
                    "question_id": 1,
                },
                {
                    "image_index": 1,
                    "question_string": "Does Green have the lowest value?",
                    "answer": 1,
                    "question_id": 2,
                },
                {
                    "image_index": 1,
                    "question_string": "Does Green intersect Red?",
                    "answer": 2,
                    "question_id": 3,
                },
            ]
        },
    )
    picture(out / "ai2d/images/1.png", 171)
    jsonfile(
        out / "ai2d/questions/1.png.json",
        {
            "imageName": "1.png",
            "questions": {
                "What do respiration and combustion give out": {
                    "abcLabel": False,
                    "answerTexts": ["Oxygen", "Carbon dioxide", "Nitrogen", "Heat"],
                    "correctAnswer": 1,
                    "questionId": "1.png-0",
                },
                "Which label shows the moon?": {
                    "abcLabel": True,
                    "answerTexts": ["A", "B", "C", "D"],
                    "correctAnswer": 0,
                    "questionId": "1.png-1",
                },
                "What is the largest part?": {
                    "abcLabel": False,
                    "answerTexts": ["leaf", "root"],
                    "correctAnswer": 4,
                    "questionId": "1.png-2",
                },
            },
        },
    )
    jsonfile(
        out / "ai2d/questions/2.png.json",
        {
            "imageName": "2.png",
            "questions": {
                "What eats grass?": {
                    "abcLabel": False,
                    "answerTexts": ["cow", "lion"],
                    "correctAnswer": 0,
                    "questionId": "2.png-0",
                }
            },
        },
    )
    picture(out / "iconqa/train/choose_txt/10/image.png", 191)
    jsonfile(
        out / "iconqa/train/choose_txt/10/data.json",
        {
            "question": "Which is the smallest shape?",
            "choices": ["square", "circle"],
            "answer": 1,
            "ques_type": "choose_txt",
            "grade": "prek",
            "label": "size",
        },
    )
    jsonfile(
        out / "iconqa/train/choose_txt/11/data.json",
        {
            "question": "Which shape is blue?",
            "choices": ["star", "heart"],
            "answer": 0,
            "ques_type": "choose_txt",
        },
    )
    picture(out / "visual7w/images/v7w_1.jpg", 261, "jpg")
    pairs = [
        {"qa_id": 1, "question": "Where are the people?", "answer": "On the sidewalk.",
         "multiple_choices": ["In a park.", "On a bus.", "In a building."]},
        {"qa_id": 2, "question": "What color is the bus?", "answer": "Red.",
         "multiple_choices": ["Blue.", "Green.", "White."]},
        {"qa_id": 3, "question": "Who is driving?", "answer": "A man.", "multiple_choices": ["A man.", "A dog.", "Nobody."]},
    ]  # fmt: skip
    jsonfile(
        out / "visual7w/dataset_v7w_telling.json",
        {"images": [
            {"image_id": 1, "filename": "v7w_1.jpg", "split": "train", "qa_pairs": pairs},
            {"image_id": 2, "filename": "v7w_2.jpg", "split": "val", "qa_pairs": pairs[:1]},
        ]},
    )  # fmt: skip
