"""Golden rows of The Cauldron's converters: a source row in the source's own layout, the random
draws The Cauldron made for it (which short-answer line, which instruction), and the turns.

``provenance``:
- ``published``: the turns are those of the published ``HuggingFaceM4/the_cauldron`` row
  (ai2d row 0, quoted in two public code files; the source row is AI2D's question record);
- ``build script``: the turns are written by hand from The Cauldron's build script (its
  ``map_transform_*`` functions) for the source row, never produced by our converters; the
  dataset viewer pages, which would show published rows, were not reachable from here.

Each expected turn is (user, assistant); the converter must give exactly these strings.
"""

GOLDEN = [
    {
        "converter": "cauldron",
        "provenance": "published (import cauldron keeps The Cauldron's own rows as they are)",
        "row": {
            "images": [],
            "texts": [
                {
                    "user": "Question: What do respiration and combustion give out\nChoices:\nA. Oxygen\n"
                    "B. Carbon dioxide\nC. Nitrogen\nD. Heat\nAnswer with the letter.",
                    "assistant": "Answer: B",
                    "source": "AI2D",
                }
            ],
        },
        "draws": [],
        "turns": [
            (
                "Question: What do respiration and combustion give out\nChoices:\nA. Oxygen\nB. Carbon dioxide\n"
                "C. Nitrogen\nD. Heat\nAnswer with the letter.",
                "Answer: B",
            )
        ],
    },
    {
        "converter": "ai2d",
        "provenance": "published",
        "row": {
            "imageName": "0.png",
            "questions": {
                "What do respiration and combustion give out": {
                    "abcLabel": False,
                    "answerTexts": ["Oxygen", "Carbon dioxide", "Nitrogen", "Heat"],
                    "correctAnswer": 1,
                    "questionId": "0.png-0",
                }
            },
        },
        "draws": [],
        "turns": [
            (
                "Question: What do respiration and combustion give out\nChoices:\nA. Oxygen\nB. Carbon dioxide\n"
                "C. Nitrogen\nD. Heat\nAnswer with the letter.",
                "Answer: B",
            )
        ],
    },
    {
        "converter": "vqav2",
        "provenance": "build script (VQAv2 train question 458752000)",
        "row": {
            "image_id": 458752,
            "question_id": 458752000,
            "question": "What is this photo taken looking through?",
            "answers": [
                {"answer": a, "answer_confidence": "yes", "answer_id": i + 1}
                for i, a in enumerate(
                    ["net", "net", "net", "netting", "net", "net", "mesh", "net", "net", "net"]
                )
            ],
        },
        "draws": ["\nAnswer briefly."],
        "turns": [("What is this photo taken looking through?\nAnswer briefly.", "Net.")],
    },
    {
        "converter": "vqav2",
        "provenance": "build script: a tie goes to the answer seen first",
        "row": {"image_id": 1, "question": "How many cats are there?", "answers": ["2", "3", "3", "2"]},
        "draws": ["\nBe succinct."],
        "turns": [("How many cats are there?\nBe succinct.", "2.")],
    },
    {
        "converter": "textvqa",
        "provenance": "build script: str.capitalize lower-cases the rest of the question",
        "row": {
            "image_id": "0054c91397f2fe05",
            "question": "what is the brand of this Camera?",
            "answers": [
                "nous les gosses",
                "dakota",
                "clos culombu",
                "dakota digital",
                "dakota",
                "dakota",
                "dakota digital",
                "dakota digital",
                "dakota",
                "dakota",
            ],
        },
        "draws": ["dakota", "\nOffer a terse response."],
        "turns": [("What is the brand of this camera?\nOffer a terse response.", "Dakota.")],
    },
    {
        "converter": "okvqa",
        "provenance": "build script",
        "row": {
            "image_id": 51606,
            "question": "What sport can you use this for?",
            "answers": [
                {"answer": a, "raw_answer": a, "answer_confidence": "yes", "answer_id": i + 1}
                for i, a in enumerate(["race"] * 6 + ["motocross"] * 2 + ["ride"] * 2)
            ],
        },
        "draws": ["\nQuick response, please."],
        "turns": [("What sport can you use this for?\nQuick response, please.", "Race.")],
    },
    {
        "converter": "visual7w",
        "provenance": "build script: the right answer drawn into place 2 of 4",
        "row": {
            "image_id": 2386,
            "filename": "v7w_2386.jpg",
            "split": "train",
            "qa_pairs": [
                {
                    "qa_id": 986,
                    "type": "where",
                    "question": "Where are the people?",
                    "answer": "On the sidewalk.",
                    "multiple_choices": ["In a park.", "On a bus.", "In a building."],
                }
            ],
        },
        "draws": ["2"],
        "turns": [
            (
                "Question: Where are the people?\nChoices:\nA. In a park.\nB. On a bus.\nC. On the sidewalk.\n"
                "D. In a building.\nAnswer with the letter.",
                "Answer: C",
            )
        ],
    },
    {
        "converter": "vqarad",
        "provenance": "build script: str.capitalize lower-cases 'MRI'",
        "row": {"question": "is the MRI normal?", "answer": "no"},
        "draws": ["\nAnswer briefly."],
        "turns": [("Is the mri normal?\nAnswer briefly.", "No.")],
    },
    {
        "converter": "tallyqa",
        "provenance": "build script",
        "row": {
            "image": "VG_100K_2/1.jpg",
            "question": "How many people are in the photo?",
            "answer": 2,
            "data_source": "imported_genome",
            "image_id": 1,
            "question_id": 0,
        },
        "draws": ["\nKeep it brief."],
        "turns": [("How many people are in the photo?\nKeep it brief.", "2.")],
    },
    {
        "converter": "docvqa",
        "provenance": "build script: one accepted answer drawn",
        "row": {
            "questionId": 337,
            "question": "what is the date mentioned in this letter?",
            "docId": 279,
            "answers": ["1/8/93", "1/8/1993"],
        },
        "draws": ["1/8/93", "\nProvide a succinct answer."],
        "turns": [("What is the date mentioned in this letter?\nProvide a succinct answer.", "1/8/93.")],
    },
    {
        "converter": "iam",
        "provenance": "build script: the transcription as it is",
        "row": {"text": "A MOVE to stop Mr. Gaitskell from nominating"},
        "draws": ["Transcribe the handwriting seen in this image."],
        "turns": [
            ("Transcribe the handwriting seen in this image.", "A MOVE to stop Mr. Gaitskell from nominating")
        ],
    },
    {
        "converter": "chartqa",
        "provenance": "build script",
        "row": {"imgname": "two_col_1.png", "query": "What is the value of Japan?", "label": "56"},
        "draws": ["\nBe succinct."],
        "turns": [("What is the value of Japan?\nBe succinct.", "56.")],
    },
    {
        "converter": "chartqa",
        "provenance": "build script: a lower-case answer is capitalised",
        "row": {
            "imgname": "multi_col_2.png",
            "query": "Which country has the highest value?",
            "label": "india",
        },
        "draws": ["\nConcise answer only."],
        "turns": [("Which country has the highest value?\nConcise answer only.", "India.")],
    },
    {
        "converter": "figureqa",
        "provenance": "build script",
        "row": {"image_index": 0, "question_string": "Is Dark Blue the minimum?", "answer": 1},
        "draws": [],
        "turns": [("Is Dark Blue the minimum?\nAnswer yes or no.", "Yes.")],
    },
    {
        "converter": "tat_qa",
        "provenance": "build script: the passage before the first question; scale; derivation",
        "row": {
            "paragraphs": ["The company reported revenue.", "costs rose."],
            "questions": ["what was the revenue in 2019?", "What is the change in costs?"],
            "answers": ["1.2", "5"],
            "scales": ["million", ""],
            "derivations": ["", "10 - 5"],
        },
        "draws": [],
        "turns": [
            (
                "The company reported revenue.\ncosts rose.\nwhat was the revenue in 2019?\nAnswer scale should be: million.",
                "1.2.",
            ),
            ("What is the change in costs?", "10 - 5\nAnswer: 5."),
        ],
    },
    {
        "converter": "scienceqa",
        "provenance": "build script: lecture before the question, hint after it",
        "row": {
            "question": "Which of these states is farthest north?",
            "choices": ["West Virginia", "Louisiana", "Arizona", "Oklahoma"],
            "answer": 0,
            "hint": "Look at the map.",
            "lecture": "Maps have four cardinal directions, or main directions.",
        },
        "draws": [],
        "turns": [
            (
                "Lecture: Maps have four cardinal directions, or main directions.\n"
                "Question: Which of these states is farthest north?\nHint: Look at the map.\nChoices:\n"
                "A. West Virginia\nB. Louisiana\nC. Arizona\nD. Oklahoma\nAnswer with the letter.",
                "Answer: A",
            )
        ],
    },
    {
        "converter": "iconqa",
        "provenance": "build script",
        "row": {
            "question": "Which is the smallest shape?",
            "choices": ["square", "circle"],
            "answer": 1,
            "ques_type": "choose_txt",
        },
        "draws": [],
        "turns": [
            (
                "Question: Which is the smallest shape?\nChoices:\nA. square\nB. circle\nAnswer with the letter.",
                "Answer: B",
            )
        ],
    },
    {
        "converter": "screen2words",
        "provenance": "build script",
        "row": {"text": "page showing login options"},
        "draws": ["Describe this image in words."],
        "turns": [("Describe this image in words.", "Page showing login options.")],
    },
    {
        "converter": "textcaps",
        "provenance": "build script: one reference caption drawn",
        "row": {"reference_strs": ["a bottle of beer with a red label", "A red label on a bottle."]},
        "draws": ["Caption this image.", "a bottle of beer with a red label"],
        "turns": [("Caption this image.", "A bottle of beer with a red label.")],
    },
    {
        "converter": "websight",
        "provenance": "build script: the HTML as it is",
        "row": {"text": "<html>\n<body><h1>Fresh bread</h1></body>\n</html>"},
        "draws": ["Transform this website screenshot into HTML code."],
        "turns": [
            (
                "Transform this website screenshot into HTML code.",
                "<html>\n<body><h1>Fresh bread</h1></body>\n</html>",
            )
        ],
    },
    {
        "converter": "datikz",
        "provenance": "build script: the TikZ code as it is",
        "row": {"code": "\\begin{tikzpicture}\n\\draw (0,0) -- (1,1);\n\\end{tikzpicture}"},
        "draws": ["Recreate this figure using TikZ code."],
        "turns": [
            (
                "Recreate this figure using TikZ code.",
                "\\begin{tikzpicture}\n\\draw (0,0) -- (1,1);\n\\end{tikzpicture}",
            )
        ],
    },
    {
        "converter": "nlvr2",
        "provenance": "build script",
        "row": {"sentence": "There are two dogs.", "label": 1},
        "draws": [
            "The first image is the image on the left, the second image is the image on the right. Assess this "
            'claim about the two images: "{caption}". Correct or not? Answer yes or no.'
        ],
        "turns": [
            (
                "The first image is the image on the left, the second image is the image on the right. Assess this "
                'claim about the two images: "There are two dogs.". Correct or not? Answer yes or no.',
                "Yes.",
            )
        ],
    },
    {
        "converter": "vsr",
        "provenance": "build script: a drawn template, then Answer yes or no.",
        "row": {
            "image": "000000085637.jpg",
            "caption": "The umbrella is at the left side of the person.",
            "label": 1,
            "relation": "at the left side of",
        },
        "draws": ['Is the statement "{caption}" accurate regarding the image?\nAnswer yes or no.'],
        "turns": [
            (
                'Is the statement "The umbrella is at the left side of the person." accurate regarding the '
                "image?\nAnswer yes or no.",
                "Yes.",
            )
        ],
    },
    {
        "converter": "st_vqa",
        "provenance": "build script: a sole answer, cased, after a short-answer line",
        "row": {
            "set_name": "train",
            "question": "what is the number on the bus?",
            "answers": ["37"],
            "file_path": "coco-text/COCO_train2014_000000000036.jpg",
        },
        "draws": ["\nQuick response, please."],
        "turns": [("what is the number on the bus?\nQuick response, please.", "37.")],
    },
    {
        "converter": "infographic_vqa",
        "provenance": "build script: as ST-VQA",
        "row": {
            "question": "Which country has the highest share of renewable energy?",
            "answers": ["norway"],
            "image_local_name": "10002.jpeg",
        },
        "draws": ["\nBe succinct."],
        "turns": [("Which country has the highest share of renewable energy?\nBe succinct.", "Norway.")],
    },
    {
        "converter": "vistext",
        "provenance": "build script: the L1 caption, a space, the L2/L3 caption, as they are",
        "row": {
            "img_id": "1234",
            "caption_L1": "This is a bar chart titled Exports by year.",
            "caption_L2L3": "Exports peaked in 2019 and fell after.",
        },
        "draws": ["Describe this chart."],
        "turns": [
            (
                "Describe this chart.",
                "This is a bar chart titled Exports by year. Exports peaked in 2019 and fell after.",
            )
        ],
    },
    {
        "converter": "diagram_image_to_text",
        "provenance": "build script: the description as it is",
        "row": {"text": "the pump moves water from the tank to the pipe"},
        "draws": ["Chart the connections and roles of the diagram\u2019s components."],
        "turns": [
            (
                "Chart the connections and roles of the diagram\u2019s components.",
                "the pump moves water from the tank to the pipe",
            )
        ],
    },
    {
        "converter": "clevr",
        "provenance": "build script: correct_casing of the question, a brevity line; the answer cased",
        "row": {"question": "are there more cubes than spheres ?", "answer": "yes"},
        "draws": ["\nProvide a succinct answer."],
        "turns": [("Are there more cubes than spheres ?\nProvide a succinct answer.", "Yes.")],
    },
    {
        "converter": "pathvqa",
        "provenance": "build script: str.capitalize of the question, no short-answer line; the answer cased",
        "row": {"question": "what does this image show?", "answer": "cholesterol crystals"},
        "draws": [],
        "turns": [("What does this image show?", "Cholesterol crystals.")],
    },
    {
        "converter": "mapqa",
        "provenance": "build script: ' ?' tidied, a short-answer line; a list answer joined with ', ', cased",
        "row": {
            "question": "Which states have the highest value ?",
            "answer": ["Ohio", "Texas"],
            "map_id": "map_1.png",
        },
        "draws": ["\nKeep it brief."],
        "turns": [("Which states have the highest value?\nKeep it brief.", "Ohio, Texas.")],
    },
    {
        "converter": "intergps",
        "provenance": "build script: letters multiple choice, the answer's letter as the source gives it",
        "row": {"problem_text": "Find x.", "choices": ["3", "4", "5", "6"], "answer": "C"},
        "draws": [],
        "turns": [
            ("Question: Find x.\nChoices:\nA. 3\nB. 4\nC. 5\nD. 6\nAnswer with the letter.", "Answer: C")
        ],
    },
    {
        "converter": "spot_the_diff",
        "provenance": "build script: each sentence cased, joined with spaces",
        "row": {"img_id": "1001", "sentences": ["the car is gone", "a person walks in the lot"]},
        "draws": ["Detect the changes between these images."],
        "turns": [
            ("Detect the changes between these images.", "The car is gone. A person walks in the lot.")
        ],
    },
]
