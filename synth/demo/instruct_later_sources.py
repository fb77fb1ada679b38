"""The demo files of the converters added after the first twenty (CLEVR, PathVQA, VSR, ST-VQA,
InfographicVQA, MapQA, VisText, InterGPS, Diagram-Image-to-Text, Spot-the-diff), each in its source's own layout, with planted bad rows;
``synth.demo.instruct_sources`` writes them with the others and says what to expect."""

from __future__ import annotations

import json
from pathlib import Path

from synth.demo.documents import make_image
from synth.demo.instruct_json_sources import hf_image, jsonfile, parquet, picture


def write_later_sources(out: Path) -> None:
    # VSR: train.jsonl, images by COCO file name (here beside it); two captions about one image
    picture(out / "vsr/000000000301.jpg", 301, "jpg")
    picture(out / "vsr/000000000302.jpg", 302, "jpg")
    rows = [
        ("000000000301.jpg", "The cat is on the bed.", 1, "on"),
        ("000000000301.jpg", "The bed is under the dog.", 0, "under"),
        ("000000000302.jpg", "The cup is left of the laptop.", 2, "left of"),  # bad_label
    ]
    (out / "vsr/train.jsonl").write_text(
        "".join(
            json.dumps({"image": image, "image_link": f"http://images.cocodataset.org/train2017/{image}",
                        "caption": caption, "label": label, "relation": relation}) + "\n"
            for image, caption, label, relation in rows
        )
    )  # fmt: skip
    # ST-VQA: train_task_2.json {"data": [...]}, images under the JSON's folder
    picture(out / "st_vqa/coco-text/COCO_train2014_000000000303.jpg", 303, "jpg")
    bus = "coco-text/COCO_train2014_000000000303.jpg"
    jsonfile(
        out / "st_vqa/train_task_2.json",
        {"dataset_name": "ST-VQA", "task_name": "task_2", "data": [
            {"question_id": 1, "set_name": "train", "file_path": bus, "question": "what is the number on the bus?",
             "answers": ["37"]},
            {"question_id": 2, "set_name": "train", "file_path": bus, "question": "what color is the bus?",
             "answers": ["red"]},
            {"question_id": 3, "set_name": "train", "file_path": bus, "question": "where is it going?",
             "answers": ["downtown", "city"]},  # several_answers
            {"question_id": 4, "set_name": "test", "file_path": bus, "question": "who drives?", "answers": ["a man"]},
        ]},
    )  # fmt: skip
    # InfographicVQA: the train JSON next to images/; one infographic over 4:1
    picture(out / "infographic_vqa/images/10002.jpeg", 304, "jpg")
    (out / "infographic_vqa/images/10003.jpeg").write_bytes(make_image(305, 500, 90, "jpg"))
    jsonfile(
        out / "infographic_vqa/infographicsVQA_train_v1.0.json",
        {"dataset_name": "infographicVQA", "dataset_split": "train", "dataset_version": "1.0", "data": [
            {"questionId": 1, "question": "Which country has the highest share of renewable energy?",
             "image_local_name": "10002.jpeg", "answers": ["norway"], "data_split": "train"},
            {"questionId": 2, "question": "What is the total?", "image_local_name": "10003.jpeg",
             "answers": ["12"], "data_split": "train"},  # image_too_big
        ]},
    )  # fmt: skip
    # VisText: tabular/data_train.json, images/<img_id>.png
    picture(out / "vistext/images/4001.png", 306)
    jsonfile(
        out / "vistext/tabular/data_train.json",
        [
            {"img_id": "4001", "caption_L1": "This is a bar chart titled Exports by year.",
             "caption_L2L3": "Exports peaked in 2019 and fell after."},
            {"img_id": "4002", "caption_L1": "This is a line chart.", "caption_L2L3": None},  # missing_field
        ],
    )  # fmt: skip
    parquet(
        out / "diagram_image_to_text/train.parquet",
        [
            {"image": hf_image(307, "png"), "text": "The pump moves water from the tank to the pipe."},
            {"image": hf_image(308, "png"), "text": " "},  # empty_answer
        ],
    )
    scene = hf_image(309, "png")  # CLEVR: no image id in the export, rows group by the image's bytes
    parquet(
        out / "clevr/train-00000-of-00001.parquet",
        [
            {"image": scene, "question": "are there more cubes than spheres ?", "answer": "yes"},
            {"image": scene, "question": "What color is the large cylinder?", "answer": "gray"},
            {"image": hf_image(310, "png"), "question": " ", "answer": "2"},  # empty_question
        ],
    )
    write_geometry_maps_and_pairs(out)


def write_geometry_maps_and_pairs(out: Path) -> None:
    """PathVQA, MapQA, InterGPS, Spot-the-diff."""
    slide = hf_image(311, "jpg")
    parquet(
        out / "pathvqa/train-00000-of-00001.parquet",
        [
            {"image": slide, "question": "what does this image show?", "answer": "cholesterol crystals"},
            {"image": slide, "question": "is this slide stained?", "answer": "yes"},
            {"image": hf_image(312, "jpg"), "question": "where is this from?", "answer": ""},  # empty_answer
        ],
    )
    picture(out / "mapqa/MapQA_S/images/map_1.png", 313)
    jsonfile(
        out / "mapqa/MapQA_S/questions/train-QA.json",
        [
            {
                "question_id": 1,
                "map_id": "map_1.png",
                "question": "Which states have the highest value ?",
                "answer": ["Ohio", "Texas"],
            },
            {
                "question_id": 2,
                "map_id": "map_1.png",
                "question": "How many states are shaded ?",
                "answer": 3,
            },
            {"question_id": 3, "map_id": "map_2.png", "question": "Does Utah have a value?", "answer": "Yes"},
        ],
    )  # map_2.png is not there: missing_image
    picture(out / "intergps/geometry3k/train/2/img_diagram.png", 314)
    jsonfile(
        out / "intergps/geometry3k/train/2/data.json",
        {"id": 2, "problem_text": "Find x.", "choices": ["3", "4", "5", "6"], "answer": "C",
         "problem_type_graph": ["Triangle"]},
    )  # fmt: skip
    picture(out / "intergps/geometry3k/train/3/img_diagram.png", 315)
    jsonfile(
        out / "intergps/geometry3k/train/3/data.json",
        {"id": 3, "problem_text": "Find y.", "choices": ["1", "2", "3", "4"], "answer": "E"},
    )  # answer_not_in_options
    for name, seed in [("1001", 316), ("1001_2", 317), ("1002", 318)]:  # 1002_2.png missing
        picture(out / f"spot_the_diff/resized_images/{name}.png", seed)
    jsonfile(
        out / "spot_the_diff/train_spot_difference.json",
        [
            {"img_id": "1001", "sentences": ["the car is gone", "a person walks in the lot"]},
            {"img_id": "1002", "sentences": ["the gate is open"]},
        ],
    )
