"""The converters of The Cauldron's sources that vlmdata ships, one declaration per source layout.

Each declares the layout the source is published in (the Hugging Face export a converter reads
as parquet: columns, images as ``{bytes, path}``; the authors' JSON files: fields, images as paths
under ``image_folder``, by default the JSON file's folder) and The Cauldron's formatting of it.
``licence`` is the source's own: The Cauldron only repackages its sources, each under its own
terms. To add a source, declare a ``Converter`` here (README: "Adding a source").
"""

from __future__ import annotations

from pipelines.instruct import text as T
from pipelines.instruct.converter import (
    Converter,
    LetterChoice,
    Prompted,
    Published,
    ShortAnswer,
    TableQA,
    YesNo,
)

SOURCES: dict[str, Converter] = {
    c.name: c
    for c in [
        # -- general VQA ---------------------------------------------------------------------
        Converter(
            "vqav2",
            "VQAv2",
            "general_vqa",
            "CC BY 4.0 (annotations); COCO images under the Flickr terms of use",
            "parquet",
            ("image_id", "question", "answers", "image"),
            ("image",),
            ShortAnswer("question", "answers", pick="majority", min_votes=2),
            group_by="image_id",
            origin="HuggingFaceM4/VQAv2 (parquet export): one row per question, 10 answers",
            notes="answer: the majority of the 10 annotators' answers; fewer than 2 agreeing: dropped",
        ),
        Converter(
            "textvqa",
            "textvqa",
            "general_vqa",
            "CC BY 4.0 (annotations); Open Images under CC BY 2.0",
            "parquet",
            ("image_id", "question", "answers", "image"),
            ("image",),
            ShortAnswer(
                "question",
                "answers",
                pick="top_random",
                hint=tuple(T.BREVITY_HINT),
                case_question=True,
                min_votes=2,
            ),
            group_by="image_id",
            origin="facebook/textvqa (parquet export): one row per question, 10 answers",
            notes="answer: one drawn among the most frequent answers",
        ),
        Converter(
            "okvqa",
            "OK-VQA",
            "general_vqa",
            "OK-VQA terms (annotations); COCO images under the Flickr terms of use",
            "parquet",
            ("image_id", "question", "answers", "image"),
            ("image",),
            ShortAnswer("question", "answers", pick="majority", min_votes=2),
            group_by="image_id",
            origin="HuggingFaceM4/OK-VQA (parquet export): 10 answers per question, as VQAv2",
        ),
        Converter(
            "visual7w",
            "Visual7W",
            "general_vqa",
            "CC BY 4.0 (Visual7W telling); Visual Genome / COCO images",
            "json",
            ("filename", "split", "qa_pairs"),
            ("images/{filename}",),
            LetterChoice("question", "multiple_choices", "answer", answer_is="inserted", items="qa_pairs"),
            records="images",
            keep=(("split", "train"),),
            origin="dataset_v7w_telling.json (rows under `images`, one per image) and images/",
            notes="the right answer is put among the three wrong ones at a drawn place; train split only",
        ),
        Converter(
            "vqarad",
            "VQA-RAD",
            "general_vqa",
            "CC0 1.0",
            "parquet",
            ("image", "question", "answer"),
            ("image",),
            ShortAnswer("question", "answer", capitalize=True),
            group_by="@image",
            origin="flaviagiammarino/vqa-rad (parquet export): no image id, so rows group by the image's bytes",
            notes="str.capitalize lower-cases the rest of the question ('Is the mri normal?'), as The Cauldron did",
        ),
        Converter(
            "tallyqa",
            "TallyQA",
            "counting",
            "Apache-2.0 (annotations); COCO and Visual Genome images",
            "json",
            ("image", "question", "answer"),
            ("{image}",),
            ShortAnswer("question", "answer"),
            group_by="image",
            origin="github.com/manoja328/TallyQA_dataset train.json; image paths under image_folder",
        ),
        # -- OCR and documents -----------------------------------------------------------------
        Converter(
            "docvqa",
            "docvqa",
            "ocr_documents",
            "DocVQA terms (research use); UCSF Industry Documents Library pages",
            "parquet",
            ("docId", "question", "answers", "image"),
            ("image",),
            ShortAnswer("question", "answers", pick="random", hint=tuple(T.BREVITY_HINT), case_question=True),
            group_by="docId",
            origin="HuggingFaceM4/DocumentVQA (parquet export)",
            notes="answer: one drawn from the accepted answers",
        ),
        Converter(
            "iam",
            "IAM",
            "ocr_documents",
            "IAM Handwriting Database terms (non-commercial research)",
            "parquet",
            ("image", "text"),
            ("image",),
            Prompted(tuple(T.IAM), "text"),
            origin="alpayariyak/IAM_Sentences (parquet export)",
        ),
        # -- charts and figures ---------------------------------------------------------------
        Converter(
            "chartqa",
            "ChartQA",
            "charts_figures",
            "GPL-3.0",
            "json",
            ("imgname", "query", "label"),
            ("png/{imgname}",),
            ShortAnswer("query", "label"),
            group_by="imgname",
            origin="github.com/vis-nlp/ChartQA train/train_human.json, train/train_augmented.json, train/png/",
        ),
        Converter(
            "figureqa",
            "FigureQA",
            "charts_figures",
            "FigureQA terms (Microsoft Research data licence)",
            "json",
            ("image_index", "question_string", "answer"),
            ("png/{image_index}.png",),
            YesNo("answer", question="question_string"),
            records="qa_pairs",
            group_by="image_index",
            origin="FigureQA train1/qa_pairs.json and train1/png/",
        ),
        # -- tables -------------------------------------------------------------------------------
        Converter(
            "tat_qa",
            "tatqa",
            "tables",
            "CC BY 4.0",
            "parquet",
            ("image", "paragraphs", "questions", "answers"),
            ("image",),
            TableQA(),
            origin="HuggingFaceM4/TATQA-rendered-tables (parquet export): a rendered table per row",
            notes="the passage goes before the first question; derivation before 'Answer:'",
        ),
        # -- diagrams and science multiple choice -----------------------------------------------
        Converter(
            "ai2d",
            "AI2D",
            "diagrams_science",
            "CC BY-SA 4.0",
            "json_files",
            ("imageName", "questions"),
            ("../images/{imageName}",),
            LetterChoice(None, "answerTexts", "correctAnswer", items="questions", skip="abcLabel"),
            origin="ai2d-all.zip: questions/<image>.json next to images/",
            notes="questions naming the diagram's letter labels (abcLabel) are left out, as The Cauldron did",
        ),
        Converter(
            "scienceqa",
            "ScienceQA",
            "diagrams_science",
            "CC BY-NC-SA 4.0",
            "parquet",
            ("image", "question", "choices", "answer", "hint", "lecture"),
            ("image",),
            LetterChoice(
                "question", "choices", "answer", context=(("Lecture", "lecture"), ("+Hint", "hint"))
            ),
            origin="derek-thomas/ScienceQA (parquet export); rows without an image are dropped",
        ),
        Converter(
            "iconqa",
            "IconQA",
            "diagrams_science",
            "CC BY-SA 4.0",
            "json_files",
            ("question", "choices", "answer"),
            ("image.png",),
            LetterChoice("question", "choices", "answer"),
            origin="iconqa_data.zip: train/choose_txt/<id>/data.json and image.png",
        ),
        # -- captioning as QA ---------------------------------------------------------------------
        Converter(
            "screen2words",
            "Screen2Words",
            "captioning",
            "CC BY 4.0; RICO screenshots",
            "parquet",
            ("image", "text"),
            ("image",),
            Prompted(tuple(T.SCREEN2WORDS), "text", case_answer=True),
            origin="pinkmooncake/rico-screen2words (parquet export)",
        ),
        Converter(
            "textcaps",
            "TextCaps",
            "captioning",
            "CC BY 4.0",
            "parquet",
            ("image", "reference_strs"),
            ("image",),
            Prompted(tuple(T.TEXTCAPS), "reference_strs", pick="random", case_answer=True),
            origin="HuggingFaceM4/TextCaps (parquet export): five reference captions, one drawn",
        ),
        # -- screenshot / figure to code ----------------------------------------------------------
        Converter(
            "websight",
            "WebSight_v02",
            "code",
            "CC BY 4.0",
            "parquet",
            ("image", "text"),
            ("image",),
            Prompted(tuple(T.WEBSIGHT), "text"),
            origin="HuggingFaceM4/WebSight v0.2 (parquet export): screenshot and its HTML",
        ),
        Converter(
            "datikz",
            "DaTikz",
            "code",
            "the licences of the arXiv / TeX sources of each figure (DaTikZ)",
            "parquet",
            ("image", "code"),
            ("image",),
            Prompted(tuple(T.DATIKZ), "code"),
            origin="nllg/datikz (parquet export): rendered figure and its TikZ code",
        ),
        # -- already converted ------------------------------------------------------------------
        Converter(
            "cauldron",
            "",  # each turn keeps its own source; a turn without one: the parquet file's folder
            "published",
            "the licence of each subset's source (The Cauldron repackages them; its prompts: CC BY 4.0)",
            "parquet",
            ("images", "texts"),
            ("images",),
            Published(),
            origin="HuggingFaceM4/the_cauldron: <subset>/train-*.parquet (vlmdata import cauldron)",
            text_only=True,
        ),
        # -- two images ----------------------------------------------------------------------------
        Converter(
            "nlvr2",
            "NLVR2",
            "two_images",
            "CC BY 4.0 (annotations); web images, no rights granted",
            "parquet",
            ("left_image", "right_image", "sentence", "label"),
            ("left_image", "right_image"),
            YesNo(
                "label",
                yes=(1, "True", True),
                no=(0, "False", False),
                statement="sentence",
                templates=tuple(T.NLVR2),
            ),
            origin="HuggingFaceM4/NLVR2 (parquet export): label 1 = True",
        ),
    ]
}


def converter(name: str) -> Converter:
    if name not in SOURCES:
        raise KeyError(f"no converter {name!r}; converters: {', '.join(sorted(SOURCES))}")
    return SOURCES[name]
