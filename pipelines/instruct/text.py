"""The Cauldron's text rules: how its build script (HuggingFaceM4's ``the_cauldron`` build code,
the conversion behind the published ``HuggingFaceM4/the_cauldron`` subsets) turns a source's
question and answer into a user/assistant turn.

- short answers: the question, then one line asking for a short answer, drawn at random from
  ``SHORT_ANSWER`` (VQAv2, TallyQA, ChartQA, ...) or ``BREVITY_HINT`` (TextVQA, DocVQA, ...);
- ``correct_casing``: a lower-case first letter is capitalised (Python's ``str.capitalize``,
  which also lower-cases the rest), and an answer gets a final full stop;
- majority vote (VQAv2): the most frequent answer, the first seen on a tie;
- multiple choice: ``Question: ...`` (after optional ``Lecture:`` / context lines),
  ``Choices:`` then ``A. ...`` lines, ``Answer with the letter.``; the answer ``Answer: B``;
- yes/no: ``Answer yes or no.`` after the question, ``Yes.`` / ``No.`` as the answer.

The prompt lists are The Cauldron's own (its prompts are published under CC BY 4.0), kept word
for word so that a subset converted here trains like the published one.
"""

from __future__ import annotations

from collections import Counter

LETTERS = "ABCDEFGHIJKL"

SHORT_ANSWER = [
    "\nGive a very brief answer.",
    "\nAnswer briefly.",
    "\nWrite a very short answer.",
    "\nQuick response, please.",
    "\nShort answer required.",
    "\nKeep it brief.",
    "\nConcise answer only.",
    "\nBe succinct.",
]

BREVITY_HINT = [
    "\nMake the answer very short.",
    "\nGive a very brief answer.",
    "\nYour answer should be very brief.",
    "\nOffer a terse response.",
    "\nProvide a succinct answer.",
    "\nKeep it short and to the point.",
    "\nEnsure brevity in your answer. ",
    "\nOffer a very short reply.",
    "\nYour response must be concise.",
    "\nYour answer should be compact.",
    "\nProvide a short and direct response.",
]

YES_NO = "\nAnswer yes or no."
LETTER = "Answer with the letter."

SCREEN2WORDS = [
    "Provide a description of this screenshot.",
    "Describe the content in this image.",
    "Tell me what you see in this picture.",
    "Give me a summary of this screen capture.",
    "Provide a textual representation of this image.",
    "Describe the visual elements of this screenshot.",
    "What can you discern from this picture?",
    "Summarize the information in this screenshot.",
    "Explain what's happening in this screen capture.",
    "Give me a narrative description of this picture.",
    "Provide a detailed account of this screenshot.",
    "What details can you identify in this image?",
    "Describe the key features of this screenshot.",
    "Summarize the main components in this picture.",
    "Please provide a description for this image.",
    "Tell me about the visual elements in this screen capture.",
    "What is the overall content of this screenshot?",
    "Describe this image in words.",
    "Explain the elements present in this screenshot.",
]

TEXTCAPS = [
    "Summarize this image.",
    "Provide a caption for this picture.",
    "Give a brief description of this image.",
    "Title this photo.",
    "Interpret this scene.",
    "What does this picture show?",
    "Detail this image in one sentence.",
    "Outline the contents of this picture.",
    "Decode this image.",
    "Illustrate what's depicted here.",
    "Frame this scene in words.",
    "Translate this image to text.",
    "Caption this image.",
]

IAM = [
    "Identify the text in this image.",
    "Decode the message shown.",
    "Extract text from the given image.",
    "What does the handwriting in this picture say?",
    "Reveal the contents of this note.",
    "Translate this image's handwriting into text.",
    "What message is written in the photograph?",
    "Output the text in this image.",
    "Convert the handwriting in this image to text.",
    "What words are inscribed in this image?",
    "Read the script in this image.",
    "What is the handwriting in this image about?",
    "Uncover the written words in this picture.",
    "Transcribe the handwriting seen in this image.",
    "Describe the text written in this photo.",
    "Detail the handwritten content in this image.",
    "What text does this image contain?",
    "Elucidate the handwriting in this image.",
    "What is scribbled in this image?",
    "What's written in this image?",
]

DATIKZ = [
    "Generate TikZ code for this figure.",
    "Convert this image into TikZ code.",
    "Produce TikZ code that replicates this diagram.",
    "Transform this figure into its TikZ equivalent.",
    "Create TikZ code to match this image.",
    "Develop TikZ code that mirrors this figure.",
    "Translate this image into TikZ code.",
    "Formulate TikZ code to reconstruct this figure.",
    "Craft TikZ code that reflects this figure.",
    "Construct TikZ code for the given image.",
    "Form TikZ code corresponding to this image.",
    "Map this image into TikZ code.",
    "Recreate this figure using TikZ code.",
    "Encode this image into TikZ format.",
    "Synthesize TikZ code for this figure.",
    "Replicate this image with TikZ code.",
]

WEBSIGHT = [
    "Generate the HTML code corresponding to this website screenshot.",
    "Translate this website image into its HTML code.",
    "Produce the HTML markup to recreate the visual appearance of this website.",
    "Convert this screenshot into its equivalent HTML structure.",
    "Write the HTML that mirrors this website's layout.",
    "Craft the HTML code that would generate this website's look.",
    "Reconstruct the HTML code from this website image.",
    "Formulate the HTML to replicate this web page's design.",
    "Compose the HTML code to achieve the same design as this screenshot.",
    "Transform this website screenshot into HTML code.",
    "Develop the HTML structure to match this website's aesthetics.",
    "Derive the HTML code to reflect this website's interface.",
    "Encode this website's visual representation into HTML.",
    "Assemble the HTML code to mimic this webpage's style.",
    "Outline the HTML required to reproduce this website's appearance.",
    "Render the HTML code that corresponds to this web design.",
    "Illustrate the HTML coding for this website's visual format.",
    "Synthesize the HTML to emulate this website's layout.",
]

NLVR2 = [
    f"The first image is the image on the left, the second image is the image on the right. {p} "
    "Answer yes or no."
    for p in [
        'Evaluate the accuracy of this statement regarding the images: "{caption}". Is it true?',
        'Given the left and right images, does the statement "{caption}" hold true?',
        'Assess this claim about the two images: "{caption}". Correct or not?',
        'For the images shown, is this caption "{caption}" true?',
        'Considering the images on both sides, is "{caption}" valid?',
        'Analyze the images presented: Is the assertion "{caption}" valid?',
        'For the images displayed, is the sentence "{caption}" factually correct?',
        'Examine the images to the left and right. Is the description "{caption}" accurate?',
    ]
]


VSR = [
    p + YES_NO
    for p in [
        'Is this affirmation: "{caption}" correct?',
        'Does the description: "{caption}" accurately reflect the image?',
        'Is the caption "{caption}" a true representation of the image?',
        'Verify the accuracy of this image caption: "{caption}".',
        'Is "{caption}" an appropriate description for the image?',
        'Evaluate: Does the caption "{caption}" match the image?',
        'Is the given caption "{caption}" fitting for the image?',
        'Does the caption "{caption}" correctly depict the image?',
        'Is the statement "{caption}" accurate regarding the image?',
        'Does the image validate the caption "{caption}"?',
    ]
]

DIAGRAM_TO_TEXT = [
    "Identify and explain the connections between elements in this diagram.",
    "Summarize the interactions among the components shown in the diagram.",
    "Describe the flow of information or energy in this diagram.",
    "Explain how the parts of this diagram work together to achieve a purpose.",
    "Detail the hierarchical structure of the components in this diagram.",
    "Map out and interpret the links among diagram components.",
    "Analyze the diagram and describe the dependency between its elements.",
    "Illustrate the network of connections presented in this diagram.",
    "Break down the diagram into its components and explain their interrelations.",
    "Elucidate the sequence of operations depicted in the diagram.",
    "Delineate the roles of the components within this diagram.",
    "Examine the diagram and outline how each part contributes to the whole.",
    "Clarify the mechanism of action represented by the diagram.",
    "Dissect the diagram, highlighting the interaction between elements.",
    "Narrate the process illustrated by the diagram, focusing on component links.",
    "Decode the diagram's representation of relationships between its parts.",
    "Chart the connections and roles of the diagram\u2019s components.",
    "Interpret the system depicted in the diagram, detailing component functions.",
    "Detail the cause-and-effect relationships within this diagram.",
    "Review the diagram and comment on the linkage and flow among entities.",
]

VISTEXT = [
    "Summarize the key information in this chart.",
    "Explain the trends shown in this chart.",
    "Identify the main components of this chart.",
    "What does this chart reveal about the data?",
    "Describe the relationship between variables in this chart.",
    "Highlight the significant data points in this chart.",
    "What insights can be drawn from this chart?",
    "Analyze the distribution shown in this chart.",
    "Estimate the changes over time shown in this chart.",
    "Explain the correlation depicted in this chart.",
    "Describe the pattern or trend evident in this chart.",
    "What is the chart's main message or takeaway?",
    "Describe this chart.",
]


SPOT_THE_DIFF = [
    "Identify the discrepancies between these two pictures.",
    "Point out what differs between these two visuals.",
    "List the variances found in these pictures.",
    "Detect the changes between these images.",
    "Find the divergences between these two pictures.",
    "Describe the differences spotted in these photos.",
    "Reveal the deviations in these images.",
    "Enumerate the differences between these visuals.",
    "Discern the dissimilarities in these two pictures.",
    "Pinpoint the contrasts found in these images.",
    "Explain the variances between these photos.",
    "Outline the disparities in these two images.",
    "Identify the non-matching elements in these pictures.",
    "Locate the discrepancies between these visuals.",
    "Discover the changes evident in these two photos.",
    "Assess the differences in these images.",
]


def correct_casing(text: str, is_question: bool = False) -> str:
    """The Cauldron's casing: a lower-case first letter -> ``str.capitalize()`` (the rest is
    lower-cased too, as its script does); an answer without a final full stop gets one."""
    if text and text[0].islower():
        text = text.capitalize()
    if not text.endswith(".") and not is_question:
        text += "."
    return text


def majority(answers: list[str]) -> tuple[str, int]:
    """The most frequent answer and its count; on a tie the first seen (``max`` over a
    ``Counter``, which keeps insertion order, as The Cauldron's VQAv2 conversion does)."""
    counts = Counter(answers)
    best = max(counts, key=counts.get)
    return best, counts[best]


def top_answers(answers: list[str]) -> list[str]:
    """Every answer with the highest count, in first-seen order (TextVQA draws one of them)."""
    counts = Counter(answers)
    top = max(counts.values())
    return [a for a in counts if counts[a] == top]


def letter_choice(question: str, choices: list[str], context: list[tuple[str, str]] = ()) -> str:
    """``[Label: text\\n]... Question: q\\nChoices:\\nA. x\\n...Answer with the letter.``; context
    lines whose text is empty are left out. ``context`` entries after ``"Question"`` in order go
    after the question (ScienceQA's ``Hint:``)."""
    before = [(label, text) for label, text in context if not label.startswith("+")]
    after = [(label[1:], text) for label, text in context if label.startswith("+")]
    prompt = "".join(f"{label}: {text}\n" for label, text in before if text)
    prompt += f"Question: {question}\n"
    prompt += "".join(f"{label}: {text}\n" for label, text in after if text)
    prompt += "Choices:\n" + "".join(f"{LETTERS[i]}. {choice}\n" for i, choice in enumerate(choices))
    return prompt + LETTER
