"""Each converter of The Cauldron's sources reproduces its golden rows exactly (tests/cauldron_golden.py)."""

import pytest

from pipelines.conversations import Dropped
from pipelines.instruct.sources import SOURCES
from pipelines.instruct.styles import Turn
from tests.cauldron_golden import GOLDEN

pytestmark = pytest.mark.timeout(60)


def scripted(draws: list[str]):
    """A ``choose`` that makes The Cauldron's draws: each call takes the first remaining draw
    among its options, so a draw missing from the converter's prompt list fails the test."""
    remaining = list(draws)

    def choose(options: list[str]) -> str:
        for draw in remaining:
            if draw in options:
                remaining.remove(draw)
                return draw
        raise AssertionError(f"none of the draws {remaining} is among the options {options[:4]}...")

    choose.remaining = remaining
    return choose


@pytest.mark.parametrize("golden", GOLDEN, ids=[f"{g['converter']}-{i}" for i, g in enumerate(GOLDEN)])
def test_golden_row(golden):
    converter = SOURCES[golden["converter"]]
    choose = scripted(golden["draws"])
    turns = converter.turns(golden["row"], choose)
    assert all(isinstance(t, Turn) for t in turns), turns
    assert [(t.user, t.assistant) for t in turns] == golden["turns"]
    assert choose.remaining == [], "The Cauldron drew more than the converter asked for"


def test_twelve_converters_with_golden_rows_across_the_families():
    covered = {g["converter"] for g in GOLDEN}
    assert covered == set(SOURCES), set(SOURCES) - covered
    assert len(SOURCES) >= 12
    families = {SOURCES[name].family for name in covered}
    assert {
        "general_vqa",
        "counting",
        "ocr_documents",
        "charts_figures",
        "tables",
        "diagrams_science",
        "captioning",
        "code",
    } <= families
    assert any(g["provenance"] == "published" for g in GOLDEN)


@pytest.mark.parametrize(
    "name, row, reason",
    [
        (
            "vqav2",
            {"image_id": 1, "question": "Is it raining?", "answers": ["yes", "no", "maybe", "wet"]},
            "disagreeing_answers",
        ),
        ("vqav2", {"image_id": 1, "question": "What is it?", "answers": []}, "empty_answer"),
        ("vqav2", {"image_id": 1, "question": "  ", "answers": ["a", "a"]}, "empty_question"),
        (
            "scienceqa",
            {"question": "Which?", "choices": ["a", "b"], "answer": 2, "hint": "", "lecture": ""},
            "answer_not_in_options",
        ),
        (
            "scienceqa",
            {"question": "Which?", "choices": ["a"], "answer": 0, "hint": "", "lecture": ""},
            "bad_choices",
        ),
        (
            "scienceqa",
            {"question": "Which?", "choices": ["a", "b"], "answer": True, "hint": "", "lecture": ""},
            "answer_not_in_options",
        ),
        ("figureqa", {"image_index": 0, "question_string": "Is it?", "answer": 3}, "bad_label"),
        ("chartqa", {"imgname": "a.png", "query": "What?"}, "missing_field"),
        ("tat_qa", {"questions": ["a?", "b?"], "answers": ["1"]}, "misaligned_lists"),
        ("st_vqa", {"set_name": "train", "question": "What?", "answers": ["a", "b"]}, "several_answers"),
        ("st_vqa", {"set_name": "test", "question": "What?", "answers": ["a"]}, "other_set_name"),
        ("infographic_vqa", {"question": "What?", "answers": []}, "empty_answer"),
        ("vsr", {"image": "1.jpg", "caption": "A cat.", "label": 2}, "bad_label"),
        ("vistext", {"img_id": "1", "caption_L1": "A bar chart."}, "missing_field"),
        (
            "intergps",
            {"problem_text": "Find x.", "choices": ["1", "2"], "answer": "E"},
            "answer_not_in_options",
        ),
        ("spot_the_diff", {"img_id": "1", "sentences": []}, "empty_answer"),
    ],
)
def test_bad_rows_are_dropped_with_their_reason(name, row, reason):
    with pytest.raises(Dropped) as raised:
        SOURCES[name].turns(row, lambda options: options[0])
    assert raised.value.reason == reason


def test_one_bad_question_of_a_diagram_keeps_the_others():
    row = {
        "imageName": "1.png",
        "questions": {
            "What is shown?": {"abcLabel": False, "answerTexts": ["a", "b"], "correctAnswer": 0},
            "Which label is the sun?": {"abcLabel": True, "answerTexts": ["A", "B"], "correctAnswer": 1},
            "What is big?": {"abcLabel": False, "answerTexts": ["x", "y"], "correctAnswer": 5},
        },
    }
    turns = SOURCES["ai2d"].turns(row, lambda options: options[0])
    kinds = [t.reason if isinstance(t, Dropped) else "turn" for t in turns]
    assert kinds == ["turn", "skipped_abcLabel", "answer_not_in_options"]


@pytest.mark.parametrize(
    ("answers", "column"),
    [
        (
            [{"answer": "two", "answer_confidence": "yes", "answer_id": 1}] * 2 + [{"answer": "2"}],
            "answers.list.element.answer",
        ),
        (["two", "two", "2"], "answers"),  # strings: the column whole
    ],
)
def test_answer_records_are_read_by_their_answer_field_alone(tmp_path, answers, column):
    """VQAv2's answers are records of three fields: the reader takes ``answer`` alone from the
    parquet file, and the turns are those of the whole row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    row = {
        "image_id": 7,
        "question": "How many?",
        "answers": answers,
        "extra": "x",
        "image": {"bytes": b"j", "path": "7.jpg"},
    }
    pq.write_table(pa.Table.from_pylist([row]), tmp_path / "train.parquet")
    conv = SOURCES["vqav2"]
    read = dict(next(iter(conv.rows(str(tmp_path / "train.parquet"))))[1])
    assert column in conv._columns(pq.ParquetFile(tmp_path / "train.parquet").schema)
    assert read["extra"] == "x" and read["image"] == row["image"]
    assert [a["answer"] if isinstance(a, dict) else a for a in read["answers"]] == ["two", "two", "2"]
    first = lambda options: options[0]  # noqa: E731
    assert conv.turns(read, first) == conv.turns(row, first)
