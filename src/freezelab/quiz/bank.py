"""Loading the question bank: YAML/JSON data, validated, turned into immutable questions.

The bank is data (``quizzes/questions.yaml``, ``quizzes/quizzes.yaml``), kept apart from the
code that draws it (:mod:`freezelab.quiz.widgets`). Every file is checked twice on load: by its
JSON Schema in ``quizzes/schema/`` (structure) and by :func:`semantic_problems` (the rules a
schema cannot say, such as "the answer is one of the options"). A bank that fails either check
is never shown to a learner: :class:`BankError` lists every problem at once.

A *keyless* copy of a quiz (:func:`keyless_document`) carries the questions and options only,
for the graded assignment that learners receive; :func:`load_keyless` reads it back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal

import jsonschema
import yaml

from freezelab.paths import QUIZZES_DIR, SCHEMA_DIR

Difficulty = Literal["easy", "medium", "hard"]
DIFFICULTIES: tuple[Difficulty, ...] = ("easy", "medium", "hard")
OPTION_IDS = "ABCDEF"

QUESTIONS_FILE = QUIZZES_DIR / "questions.yaml"
QUIZ_SETS_FILE = QUIZZES_DIR / "quizzes.yaml"

# Each document names its format; the format picks the schema that validates it.
SCHEMAS: dict[str, str] = {
    "freezelab-question-bank": "question-bank.schema.json",
    "freezelab-quiz-sets": "quiz-sets.schema.json",
    "freezelab-keyless-questions": "keyless-questions.schema.json",
    "freezelab-answers": "answers.schema.json",
    "freezelab-progress": "progress.schema.json",
}

# The fields of a question and of an option that may be released to learners. Everything else
# (answer, explanations, evidence, hint, solution, quick check, verify) stays in the bank.
KEYLESS_QUESTION_FIELDS = ("id", "topic", "difficulty", "stem", "code", "ask")
KEYLESS_OPTION_FIELDS = ("id", "text", "code")


class BankError(ValueError):
    """A bank file that cannot be used; ``problems`` lists every reason found."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{source} is not a valid quiz file:\n{listing}")


@dataclass(frozen=True)
class Option:
    """One answer option. ``explanation`` and ``evidence`` are absent in a keyless quiz."""

    id: str
    text: str
    code: str | None = None
    explanation: str | None = None
    evidence: str | None = None

    @property
    def code_differs_from_text(self) -> bool:
        """True when the option's runnable form reads differently from its one-line label."""
        return self.code is not None and self.code.strip() != self.text.strip()


@dataclass(frozen=True)
class SolutionStep:
    step: str
    text: str


@dataclass(frozen=True)
class Question:
    """One multiple-choice question. In a keyless quiz ``answer`` is ``None`` and the
    explanations, hint, solution and evidence are empty."""

    id: str
    difficulty: Difficulty
    stem: str
    options: tuple[Option, ...]
    topic: str = ""
    code: str | None = None
    ask: str | None = None
    runnable: bool = False
    setup: str | None = None
    answer: str | None = None
    solution: tuple[SolutionStep, ...] = ()
    hint: str | None = None
    quick_check: str | None = None
    more_precisely: str | None = None
    more_precisely_evidence: str | None = None
    verify: Mapping[str, Any] | None = None
    origin: Mapping[str, Any] | None = None

    @property
    def keyed(self) -> bool:
        return self.answer is not None

    def option(self, option_id: str) -> Option:
        for option in self.options:
            if option.id == option_id:
                return option
        raise KeyError(f"question {self.id!r} has no option {option_id!r}")

    @property
    def option_ids(self) -> tuple[str, ...]:
        return tuple(option.id for option in self.options)

    @property
    def correct_option(self) -> Option:
        if self.answer is None:
            raise ValueError(f"question {self.id!r} is keyless: it carries no answer")
        return self.option(self.answer)

    @property
    def fingerprint(self) -> str:
        """A short hash of what the learner sees, so saved progress is dropped if it changes."""
        visible = [self.stem, self.code, self.ask, [(o.id, o.text) for o in self.options]]
        return hashlib.sha256(json.dumps(visible).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Quiz:
    """An ordered set of questions with a title, as one quiz shows them."""

    id: str
    title: str
    description: str
    shuffle_options: bool
    questions: tuple[Question, ...]
    graded_as: str | None = None
    """The graded assignment whose key these questions are (see quizzes/README.md)."""

    @property
    def keyed(self) -> bool:
        return all(question.keyed for question in self.questions)

    def question(self, question_id: str) -> Question:
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(f"quiz {self.id!r} has no question {question_id!r}")

    def __len__(self) -> int:
        return len(self.questions)


# ---------------------------------------------------------------------------- reading files


def read_document(path: Path) -> Any:
    """Parse a YAML or JSON file (YAML is a superset of JSON; JSON files use the JSON parser
    so that their error messages name the line)."""
    text = Path(path).read_text(encoding="utf-8")
    if Path(path).suffix == ".json":
        return json.loads(text)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # a safe loader


@cache
def load_schema(file_name: str) -> dict[str, Any]:
    schema = json.loads((SCHEMA_DIR / file_name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def schema_problems(document: Any, schema_file: str) -> list[str]:
    """Every JSON Schema violation, as ``at questions[3].options[1]: 'explanation' is a
    required property``."""
    validator = jsonschema.Draft202012Validator(load_schema(schema_file))
    problems = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        problems.append(f"at {where.lstrip('.') or 'top level'}: {error.message}")
    return problems


def validate_document(document: Any, source: str, expected_format: str | None = None) -> None:
    """Raise :class:`BankError` unless ``document`` is valid against the schema of its format."""
    if not isinstance(document, dict) or "format" not in document:
        raise BankError(source, ["the top level must be a mapping with a 'format' key"])
    found = document["format"]
    if expected_format is not None and found != expected_format:
        raise BankError(source, [f"format is {found!r}, expected {expected_format!r}"])
    if found not in SCHEMAS:
        raise BankError(source, [f"unknown format {found!r}; known: {sorted(SCHEMAS)}"])
    problems = schema_problems(document, SCHEMAS[found])
    if not problems and found == "freezelab-question-bank":
        problems = semantic_problems(document["questions"])
    if not problems and found == "freezelab-keyless-questions":
        problems = semantic_problems(document["questions"], keyed=False)
    if problems:
        raise BankError(source, problems)


def semantic_problems(questions: Iterable[Mapping[str, Any]], keyed: bool = True) -> list[str]:
    """The rules the schema cannot express, for raw question mappings."""
    problems = []
    seen: set[str] = set()
    for index, question in enumerate(questions):
        where = f"question {question.get('id', index)!r}"
        if question["id"] in seen:
            problems.append(f"{where}: the id is used twice")
        seen.add(question["id"])
        ids = [option["id"] for option in question["options"]]
        if ids != list(OPTION_IDS[: len(ids)]):
            problems.append(f"{where}: option ids must run A, B, C... in order, found {ids}")
        texts = [option["text"].strip() for option in question["options"]]
        if len(set(texts)) != len(texts):
            problems.append(f"{where}: two options have the same text")
        if not keyed:
            continue
        if question["answer"] not in ids:
            problems.append(f"{where}: the answer {question['answer']!r} is not one of {ids}")
        verify = question.get("verify") or {}
        if verify.get("kind") in {"prints-answer", "prints", "raises"} and "code" not in question:
            problems.append(f"{where}: verify kind {verify['kind']!r} needs the question's code")
        if verify.get("kind") == "option-code":
            missing = [option["id"] for option in question["options"] if "code" not in option]
            if missing:
                problems.append(f"{where}: verify kind 'option-code' needs code on options {missing}")
    return problems


# ---------------------------------------------------------------------------- building objects


def _question_from_mapping(data: Mapping[str, Any]) -> Question:
    more = data.get("more_precisely") or {}
    return Question(
        id=data["id"],
        difficulty=data["difficulty"],
        stem=data["stem"].strip(),
        options=tuple(
            Option(
                id=option["id"],
                text=option["text"].strip(),
                code=option.get("code"),
                explanation=option.get("explanation"),
                evidence=option.get("evidence"),
            )
            for option in data["options"]
        ),
        topic=data.get("topic", ""),
        code=data.get("code"),
        ask=data.get("ask"),
        runnable=bool(data.get("runnable", False)),
        setup=data.get("setup"),
        answer=data.get("answer"),
        solution=tuple(SolutionStep(step["step"], step["text"]) for step in data.get("solution", ())),
        hint=data.get("hint"),
        quick_check=data.get("quick_check"),
        more_precisely=more.get("text"),
        more_precisely_evidence=more.get("evidence"),
        verify=data.get("verify"),
        origin=data.get("origin"),
    )


def _file_key(path: Path) -> tuple[str, int, int]:
    stat = Path(path).stat()
    return str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size


@lru_cache(maxsize=16)
def _load_bank_cached(key: tuple[str, int, int]) -> dict[str, Question]:
    path = Path(key[0])
    document = read_document(path)
    validate_document(document, str(path), "freezelab-question-bank")
    return {data["id"]: _question_from_mapping(data) for data in document["questions"]}


def load_bank(path: Path = QUESTIONS_FILE) -> dict[str, Question]:
    """Every question of a bank file, by id, in file order (validated; cached until the file
    changes)."""
    return dict(_load_bank_cached(_file_key(path)))


@lru_cache(maxsize=16)
def _load_sets_cached(key: tuple[str, int, int]) -> dict[str, dict[str, Any]]:
    path = Path(key[0])
    document = read_document(path)
    validate_document(document, str(path), "freezelab-quiz-sets")
    sets = {}
    for quiz in document["quizzes"]:
        if quiz["id"] in sets:
            raise BankError(str(path), [f"quiz {quiz['id']!r} is defined twice"])
        sets[quiz["id"]] = quiz
    return sets


def quiz_names(sets_path: Path = QUIZ_SETS_FILE) -> list[str]:
    return list(_load_sets_cached(_file_key(sets_path)))


def quiz_sets(sets_path: Path = QUIZ_SETS_FILE) -> dict[str, dict[str, Any]]:
    """Every quiz of ``quizzes.yaml`` as written there (id, title, questions' ids, ``graded_as``), validated."""
    return {name: dict(spec) for name, spec in _load_sets_cached(_file_key(sets_path)).items()}


def load_quiz(name: str, bank_path: Path = QUESTIONS_FILE, sets_path: Path = QUIZ_SETS_FILE) -> Quiz:
    """The quiz called ``name`` in ``quizzes.yaml``, with its questions from the bank."""
    sets = _load_sets_cached(_file_key(sets_path))
    if name not in sets:
        raise KeyError(f"no quiz called {name!r}; the quizzes are {sorted(sets)}")
    spec = sets[name]
    bank = load_bank(bank_path)
    missing = [qid for qid in spec["questions"] if qid not in bank]
    if missing:
        raise BankError(str(sets_path), [f"quiz {name!r} asks for unknown questions {missing}"])
    return Quiz(
        id=spec["id"],
        title=spec["title"],
        description=spec["description"].strip(),
        shuffle_options=spec["shuffle_options"],
        questions=tuple(bank[qid] for qid in spec["questions"]),
        graded_as=spec.get("graded_as"),
    )


# ---------------------------------------------------------------------------- keyless copies


def keyless_document(quiz: Quiz, generated_from: str = "") -> dict[str, Any]:
    """The quiz with its key and every key-revealing field removed, ready for release."""
    questions = []
    for question in quiz.questions:
        entry: dict[str, Any] = {}
        for field in KEYLESS_QUESTION_FIELDS:
            value = getattr(question, field)
            if value:
                entry[field] = value
        entry["options"] = [
            {field: getattr(option, field) for field in KEYLESS_OPTION_FIELDS if getattr(option, field)}
            for option in question.options
        ]
        questions.append(entry)
    return {
        "format": "freezelab-keyless-questions",
        "version": 1,
        "quiz": quiz.id,
        "title": quiz.title,
        "generated_from": generated_from
        or f"quizzes/questions.yaml (quiz {quiz.id!r}) by `python -m freezelab.quiz keyless {quiz.id}`",
        "questions": questions,
    }


def dump_keyless(document: Mapping[str, Any]) -> str:
    """The one stable text form of a keyless document (so staleness is a byte comparison)."""
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def load_keyless(path: Path, description: str = "") -> Quiz:
    """A quiz from a keyless questions file (as released in a graded assignment)."""
    document = read_document(Path(path))
    validate_document(document, str(path), "freezelab-keyless-questions")
    return Quiz(
        id=document["quiz"],
        title=document["title"],
        description=description,
        shuffle_options=False,
        questions=tuple(_question_from_mapping(q) for q in document["questions"]),
    )
