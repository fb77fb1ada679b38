"""How a source row becomes user/assistant turns: the styles a ``Converter`` declares, with The
Cauldron's prompt formatting (``pipelines.instruct.text``):

- ``ShortAnswer``: a question and one answer, a list (majority vote, first, one drawn, the only
  one, joined) or a single value, with a short-answer line appended (VQAv2, TextVQA, DocVQA,
  TallyQA, ChartQA, ST-VQA, MapQA);
- ``LetterChoice``: multiple choice with letters (AI2D, ScienceQA, IconQA, InterGPS);
- ``YesNo``: a question or a statement, answered ``Yes.`` / ``No.`` (FigureQA, NLVR2, VSR);
- ``Prompted``: an instruction drawn from a list, the source's text as the answer (captions,
  handwriting, TikZ, HTML, chart and diagram descriptions);
- ``TableQA``: the passage, then questions with the answer's scale and derivation (TAT-QA);
- ``Published``: rows already in The Cauldron's layout (``import cauldron``).

Random draws (which short-answer line, which instruction) come from the ``choose`` function the
caller gives: the job seeds it per source row, the golden tests pin The Cauldron's draw. A turn
that cannot be made raises or returns ``Dropped`` with its reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipelines.conversations import Dropped
from pipelines.instruct import text as T

Choose = Callable[[list[str]], str]


@dataclass(frozen=True)
class Turn:
    key: str  # the question as the source wrote it, normalised: duplicates per image are dropped
    user: str
    assistant: str
    source: str | None = None  # the turn's own ``source`` (published rows); None: the converter's label


def normalise(question: str) -> str:
    return " ".join(question.lower().split()).rstrip("?. ")


def value(row: dict, name: str) -> Any:
    """``row[name]``; a missing or null field drops the row (``missing_field``)."""
    got = row.get(name)
    if got is None:
        raise Dropped("missing_field", name)
    return got


def text_of(row: dict, name: str, reason: str) -> str:
    got = value(row, name)
    got = got if isinstance(got, str) else str(got)
    if not got.strip():
        raise Dropped(reason, name)
    return got


def answer_texts(answers: Any) -> list[str]:
    """Answer lists as the sources write them: strings, or ``{answer: ...}`` records (VQAv2)."""
    if not isinstance(answers, list):
        return [str(answers)]
    return [str(a.get("answer", "")) if isinstance(a, dict) else str(a) for a in answers]


# -- styles ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShortAnswer:
    question: str
    answer: str
    # single | majority | top_random (a draw among the most frequent) | random | sole (a list of
    # exactly one answer; more: several_answers, as The Cauldron left out ST-VQA's) | joined (a
    # list joined with ", ": MapQA)
    pick: str = "single"
    hint: tuple[str, ...] = tuple(T.SHORT_ANSWER)  # () : no line appended
    case_question: bool = False  # correct_casing(question, is_question=True) (TextVQA, DocVQA)
    capitalize: bool = False  # str.capitalize(question): first letter up, the rest down (VQA-RAD)
    case_answer: bool = True
    min_votes: int = 1  # majority / top_random: fewer agreeing answers -> disagreeing_answers
    # " ?" -> "?" in the question: The Cauldron's build script does it for MapQA, PlotQA and
    # VisualMRC only; VQAv2, TallyQA, ChartQA... keep the question as the source wrote it
    tidy_question: bool = False

    def turns(self, row: dict, choose: Choose) -> list[Turn | Dropped]:
        question = text_of(row, self.question, "empty_question")
        question = question.replace(" ?", "?") if self.tidy_question else question
        answer = self._answer(value(row, self.answer), choose)
        if not answer.strip():
            raise Dropped("empty_answer", self.answer)
        if self.capitalize:
            user = question.capitalize()
        else:
            user = T.correct_casing(question, is_question=True) if self.case_question else question
        user += choose(list(self.hint)) if self.hint else ""
        return [Turn(normalise(question), user, T.correct_casing(answer) if self.case_answer else answer)]

    def subfields(self) -> dict[str, str]:
        """Columns of records of which only one field is read: VQAv2's 10 answers are records of
        ``answer``, ``answer_confidence`` and ``answer_id``; reading ``answer`` alone makes 10
        Python objects of a row instead of 30 (bench_instruct)."""
        return {} if self.pick == "single" else {self.answer: "answer"}

    def _answer(self, raw: Any, choose: Choose) -> str:
        if self.pick == "single":
            return raw if isinstance(raw, str) else str(raw)
        if self.pick == "joined":
            return ", ".join(map(str, raw)) if isinstance(raw, list) else str(raw)
        answers = [a for a in answer_texts(raw) if a.strip()]
        if not answers:
            raise Dropped("empty_answer", self.answer)
        if self.pick == "sole":
            if len(answers) > 1:
                raise Dropped("several_answers", f"{len(answers)} answers")
            return answers[0]
        if self.pick == "random":
            return choose(answers)
        best, votes = T.majority(answers)
        if votes < min(self.min_votes, len(answers)):
            raise Dropped("disagreeing_answers", f"{len(set(answers))} answers, at most {votes} agree")
        return best if self.pick == "majority" else choose(T.top_answers(answers))


@dataclass(frozen=True)
class LetterChoice:
    question: str | None  # None: the key of each item of ``items`` is the question (AI2D)
    choices: str
    answer: str
    # index | letter | inserted: ``answer`` is the right text, put among ``choices`` (the wrong
    # ones) at a drawn place (Visual7W)
    answer_is: str = "index"
    items: str | None = None  # a field holding {question: fields} or [fields]; None: the row
    context: tuple[tuple[str, str], ...] = ()  # (label, field); "+Label": after the question
    skip: str | None = None  # an item where this field is true is left out (skipped_<field>)

    def turns(self, row: dict, choose: Choose) -> list[Turn | Dropped]:
        if self.items is None:
            return [self._turn(self.question and row.get(self.question), row, choose)]
        items = value(row, self.items)
        pairs = items.items() if isinstance(items, dict) else [(None, item) for item in items]
        out: list[Turn | Dropped] = []
        for question, item in pairs:
            if self.skip and isinstance(item, dict) and item.get(self.skip):
                out.append(Dropped(f"skipped_{self.skip}"))
                continue
            try:
                out.append(
                    self._turn(question if self.question is None else item.get(self.question), item, choose)
                )
            except Dropped as dropped:
                out.append(dropped)
        return out

    def _turn(self, question: Any, item: dict, choose: Choose) -> Turn:
        if not isinstance(question, str) or not question.strip():
            raise Dropped("empty_question")
        choices = [str(c) for c in value(item, self.choices)]
        raw = value(item, self.answer)
        if self.answer_is == "inserted":  # the right answer goes among the wrong ones
            if not str(raw).strip():
                raise Dropped("empty_answer", self.answer)
            if str(raw) in choices:
                raise Dropped("ambiguous_choices", "the answer is also a wrong choice")
            place = int(choose([str(i) for i in range(len(choices) + 1)]))
            choices.insert(place, str(raw))
            raw = place
        if len(choices) < 2 or len(choices) > len(T.LETTERS) or any(not c.strip() for c in choices):
            raise Dropped("bad_choices", f"{len(choices)} choices")
        if self.answer_is == "letter":
            index = T.LETTERS.find(str(raw).strip().upper()) if len(str(raw).strip()) == 1 else -1
        else:
            index = raw if isinstance(raw, int) and not isinstance(raw, bool) else -1
        if not 0 <= index < len(choices):
            raise Dropped("answer_not_in_options", f"{raw!r} for {len(choices)} choices")
        context = [(label, str(item.get(name) or "")) for label, name in self.context]
        user = T.letter_choice(question, choices, context)
        return Turn(normalise(question), user, f"Answer: {T.LETTERS[index]}")


@dataclass(frozen=True)
class YesNo:
    label: str
    yes: tuple[Any, ...] = (1, True, "True", "true", "yes", "Yes")
    no: tuple[Any, ...] = (0, False, "False", "false", "no", "No")
    question: str | None = None  # the question, then "Answer yes or no." (FigureQA, VSR-style)
    statement: str | None = None  # or a statement put into a drawn ``templates`` entry (NLVR2)
    templates: tuple[str, ...] = ()

    def turns(self, row: dict, choose: Choose) -> list[Turn | Dropped]:
        raw = value(row, self.label)
        if raw not in self.yes and raw not in self.no:
            raise Dropped("bad_label", repr(raw))
        if self.statement:
            statement = text_of(row, self.statement, "empty_question")
            user, key = choose(list(self.templates)).format(caption=statement), statement
        else:
            key = text_of(row, self.question or "", "empty_question")
            user = key + T.YES_NO
        return [Turn(normalise(key), user, "Yes." if raw in self.yes else "No.")]


@dataclass(frozen=True)
class Prompted:
    prompts: tuple[str, ...]
    answer: str  # a field, or a template of fields ("{caption_L1} {caption_L2L3}": VisText)
    # single | random (a draw from an answer list: TextCaps) | sentences (a list, each cased, joined
    # with spaces: Spot-the-diff)
    pick: str = "single"
    case_answer: bool = False

    def turns(self, row: dict, choose: Choose) -> list[Turn | Dropped]:
        raw = fill(self.answer, row) if "{" in self.answer else value(row, self.answer)
        answer = choose([str(a) for a in raw]) if self.pick == "random" and isinstance(raw, list) else raw
        if self.pick == "sentences" and isinstance(raw, list):
            answer = " ".join(T.correct_casing(str(sentence)) for sentence in raw if str(sentence).strip())
        answer = answer if isinstance(answer, str) else str(answer)
        if not answer.strip():
            raise Dropped("empty_answer", self.answer)
        prompt = choose(list(self.prompts))
        return [Turn(normalise(prompt), prompt, T.correct_casing(answer) if self.case_answer else answer)]


@dataclass(frozen=True)
class TableQA:
    """TAT-QA over a rendered table: the passage before the first question, the answer's scale
    asked for, the derivation before ``Answer:`` where there is one (The Cauldron's tat_qa)."""

    def turns(self, row: dict, choose: Choose) -> list[Turn | Dropped]:
        questions, answers = list(value(row, "questions")), list(value(row, "answers"))
        scales = list(row.get("scales") or [""] * len(questions))
        derivations = list(row.get("derivations") or [""] * len(questions))
        if not (len(questions) == len(answers) == len(scales) == len(derivations)) or not questions:
            raise Dropped("misaligned_lists", f"{len(questions)} questions, {len(answers)} answers")
        passage = "\n".join(str(p) for p in row.get("paragraphs") or [])
        out: list[Turn | Dropped] = []
        for i, (question, answer, scale, derivation) in enumerate(
            zip(questions, answers, scales, derivations, strict=True)
        ):
            answer = ", ".join(map(str, answer)) if isinstance(answer, list) else str(answer or "")
            if not str(question or "").strip() or not answer.strip():
                out.append(Dropped("empty_question" if answer.strip() else "empty_answer"))
                continue
            user = (passage + "\n" if i == 0 else "") + str(question)
            user += f"\nAnswer scale should be: {scale}." if scale else ""
            reply = f"{derivation}\nAnswer: {answer}" if derivation else answer
            out.append(
                Turn(
                    normalise(str(question)),
                    T.correct_casing(user, is_question=True),
                    T.correct_casing(reply),
                )
            )
        return out


@dataclass(frozen=True)
class Published:
    """Rows already in The Cauldron's layout (``texts``: ``{user, assistant, source}`` turns),
    kept as they are: ``import cauldron``. Turns without a user or an assistant text are left out
    (``empty_turn``); a row without any usable turn is dropped (``no_turns``)."""

    texts: str = "texts"

    def turns(self, row: dict, choose: Choose) -> list[Turn | Dropped]:
        out: list[Turn | Dropped] = []
        for turn in row.get(self.texts) or []:
            turn = turn if isinstance(turn, dict) else {}
            user, assistant = turn.get("user") or "", turn.get("assistant") or ""
            if user.strip() and assistant.strip():
                out.append(Turn(normalise(user), user, assistant, turn.get("source") or None))
            else:
                out.append(Dropped("empty_turn"))
        if not any(isinstance(t, Turn) for t in out):
            raise Dropped("no_turns")
        return out


Style = ShortAnswer | LetterChoice | YesNo | Prompted | TableQA | Published


_FIELD = re.compile(r"{(\w+)}")


def fill(template: str, row: dict) -> str:
    """``"png/{image_index}.png"`` with the row's fields; a missing field -> ``missing_field``."""
    return _FIELD.sub(lambda m: str(value(row, m.group(1))), template)
