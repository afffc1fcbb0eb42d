"""The self-diagnosis engine: pure functions over the rules (data) and a person's answers.

The rules live in a versioned JSON file shipped with the package
(``epicity/triage/rules/<id>.json``, loaded by `load_rules`). A rule set holds:

- ``questions``: each with an ``id``, a ``type`` (``boolean``, ``number``, ``integer`` or
  ``multi`` with ``options``), ``required``, and for numbers ``min``/``max``;
- ``conditions``: named conditions the rules refer to;
- ``rules``: each fires when its ``when`` holds and recommends ``stay_home_monitor``,
  ``get_tested`` or ``urgent_care`` with a ``reason``.

A condition is ``{"answer": q, "is": true}``, ``{"answer": q, "includes_any": [...]}``,
``{"answer": q, "gte": x}`` (also ``gt``, ``lte``, ``lt``), ``{"condition": name}``,
``{"all": [...]}`` or ``{"any": [...]}``. There is no negation on purpose: a worse answer
(one more symptom, a higher temperature, a lower SpO2, an exposure) can only make more rules
fire, so it never lowers the recommendation (a property test checks it). An unanswered
question satisfies no condition on it.

`assess` validates the answers against the questionnaire (`AnswerInvalid` names the field)
and returns the most severe recommendation among the rules that fired, with their reasons.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CURRENT_RULES",
    "RECOMMENDATIONS",
    "AnswerInvalid",
    "Assessment",
    "Rules",
    "RulesInvalid",
    "assess",
    "load_rules",
    "parse_rules",
    "severity",
    "validate_answers",
]

# Least to most severe.
RECOMMENDATIONS = ("stay_home_monitor", "get_tested", "urgent_care")
CURRENT_RULES = "kdca-2020-v1"
QUESTION_TYPES = ("boolean", "number", "integer", "multi")
_COMPARISONS = ("gte", "gt", "lte", "lt")


class AnswerInvalid(ValueError):  # noqa: N818 (the name says what was refused)
    """An answer the questionnaire does not allow; `field` names the question."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class RulesInvalid(ValueError):  # noqa: N818 (the name says what was refused)
    """A rules file that is not a well-formed rule set."""


@dataclass(frozen=True)
class Rules:
    """A parsed rule set: its id, version, the SHA-256 of its file, and its content."""

    id: str
    version: int
    sha256: str
    questions: Mapping[str, Mapping[str, Any]]
    conditions: Mapping[str, Any]
    rules: Sequence[Mapping[str, Any]]
    document: Mapping[str, Any]  # the whole file, for showing the questionnaire

    @property
    def label(self) -> str:
        """``<id>@<first 12 hex digits of the hash>``: which rules, exactly."""
        return f"{self.id}@{self.sha256[:12]}"


@dataclass(frozen=True)
class Assessment:
    """What the rules recommend for some answers, and why."""

    recommendation: str
    fired: tuple[str, ...]  # ids of the rules that fired, in the file's order
    reasons: tuple[str, ...]  # the reasons of the fired rules of the chosen recommendation
    advice: str  # the recommendation's text


def severity(recommendation: str) -> int:
    """0 (stay home and monitor) to 2 (urgent care)."""
    return RECOMMENDATIONS.index(recommendation)


# --------------------------------------------------------------------------------------------
# loading and checking a rule set


def load_rules(rules_id: str = CURRENT_RULES) -> Rules:
    """The rule set `rules_id` shipped in ``epicity/triage/rules/``."""
    if not rules_id.replace("-", "").replace("_", "").isalnum():
        raise RulesInvalid(f"rules id {rules_id!r}: letters, digits, - and _ only")
    resource = importlib.resources.files("epicity.triage") / "rules" / f"{rules_id}.json"
    try:
        raw = resource.read_bytes()
    except FileNotFoundError:
        raise RulesInvalid(f"no rules file {rules_id}.json") from None
    return parse_rules(raw)


def parse_rules(raw: bytes) -> Rules:
    """Parse and check a rules file (`RulesInvalid` says what is wrong)."""
    try:
        doc = json.loads(raw)
    except ValueError as err:
        raise RulesInvalid(f"not JSON: {err}") from None
    if not isinstance(doc, dict):
        raise RulesInvalid("the file must hold one JSON object")
    for key in ("id", "version", "source", "recommendations", "questions", "rules"):
        if key not in doc:
            raise RulesInvalid(f"{key}: missing")
    if not isinstance(doc["id"], str) or not isinstance(doc["version"], int):
        raise RulesInvalid("id must be text and version a whole number")
    source = doc["source"]
    if not isinstance(source, dict) or not source.get("citation") or not source.get("paraphrased"):
        raise RulesInvalid("source: needs a citation and a note of what is paraphrased")
    if set(doc["recommendations"]) != set(RECOMMENDATIONS):
        raise RulesInvalid(f"recommendations: must give a text for each of {RECOMMENDATIONS}")
    questions: dict[str, dict[str, Any]] = {}
    for q in doc["questions"]:
        qid = q.get("id")
        if not isinstance(qid, str) or qid in questions:
            raise RulesInvalid(f"questions: id {qid!r} missing or repeated")
        if q.get("type") not in QUESTION_TYPES:
            raise RulesInvalid(f"questions.{qid}: type must be one of {QUESTION_TYPES}")
        if not q.get("text"):
            raise RulesInvalid(f"questions.{qid}: text missing")
        if q["type"] in ("number", "integer") and not q["min"] < q["max"]:
            raise RulesInvalid(f"questions.{qid}: min must be below max")
        if q["type"] == "multi":
            ids = [o["id"] for o in q.get("options", [])]
            if not ids or len(ids) != len(set(ids)):
                raise RulesInvalid(f"questions.{qid}: options missing or repeated")
        questions[qid] = q
    conditions = doc.get("conditions", {})
    if not isinstance(conditions, dict):
        raise RulesInvalid("conditions: must be an object of named conditions")
    for name, cond in conditions.items():
        _check_condition(cond, questions, conditions, f"conditions.{name}", (name,))
    seen = set()
    for rule in doc["rules"]:
        rid = rule.get("id")
        if not isinstance(rid, str) or rid in seen:
            raise RulesInvalid(f"rules: id {rid!r} missing or repeated")
        seen.add(rid)
        if rule.get("recommendation") not in RECOMMENDATIONS:
            raise RulesInvalid(f"rules.{rid}: recommendation must be one of {RECOMMENDATIONS}")
        if not rule.get("reason"):
            raise RulesInvalid(f"rules.{rid}: reason missing")
        _check_condition(rule.get("when"), questions, conditions, f"rules.{rid}", ())
    return Rules(
        id=doc["id"],
        version=doc["version"],
        sha256=hashlib.sha256(raw).hexdigest(),
        questions=questions,
        conditions=conditions,
        rules=list(doc["rules"]),
        document=doc,
    )


def _check_condition(
    cond: Any,
    questions: Mapping[str, Mapping[str, Any]],
    conditions: Mapping[str, Any],
    where: str,
    stack: tuple[str, ...],
) -> None:
    if not isinstance(cond, dict) or len(cond.keys() - {"answer"}) != 1:
        raise RulesInvalid(f"{where}: a condition is one object with one test")
    if "all" in cond or "any" in cond:
        parts = cond.get("all", cond.get("any"))
        if not isinstance(parts, list) or not parts:
            raise RulesInvalid(f"{where}: all/any need a non-empty list")
        for part in parts:
            _check_condition(part, questions, conditions, where, stack)
        return
    if "condition" in cond:
        name = cond["condition"]
        if name not in conditions:
            raise RulesInvalid(f"{where}: unknown condition {name!r}")
        if name in stack:
            raise RulesInvalid(f"{where}: condition {name!r} refers to itself")
        _check_condition(conditions[name], questions, conditions, where, (*stack, name))
        return
    qid = cond.get("answer")
    if not isinstance(qid, str) or qid not in questions:
        raise RulesInvalid(f"{where}: unknown question {qid!r}")
    kind = questions[qid]["type"]
    (test,) = cond.keys() - {"answer"}
    value = cond[test]
    if test == "is" and kind == "boolean" and value is True:
        return  # only `true`: a test for `false` would be a negation
    if test == "includes_any" and kind == "multi":
        options = {o["id"] for o in questions[qid]["options"]}
        if isinstance(value, list) and value and set(value) <= options:
            return
        raise RulesInvalid(f"{where}: includes_any must list options of {qid}")
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if test in _COMPARISONS and kind in ("number", "integer") and numeric:
        return
    raise RulesInvalid(f"{where}: test {test!r} does not apply to {kind} question {qid!r}")


# --------------------------------------------------------------------------------------------
# answers


def validate_answers(answers: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    """The answers checked against the questionnaire, normalised (symptoms sorted, numbers as
    float or int). `AnswerInvalid` names the first question that is unknown, missing when
    required, of the wrong type or out of range. ``None`` means not answered."""
    if not isinstance(answers, Mapping):
        raise AnswerInvalid("answers", "must be an object of question id -> answer")
    for qid in answers:
        if qid not in rules.questions:
            raise AnswerInvalid(f"answers.{qid}", "no such question in these rules")
    clean: dict[str, Any] = {}
    for qid, q in rules.questions.items():
        field = f"answers.{qid}"
        value = answers.get(qid)
        if value is None:
            if q.get("required"):
                raise AnswerInvalid(field, "required")
            continue
        kind = q["type"]
        if kind == "boolean":
            if not isinstance(value, bool):
                raise AnswerInvalid(field, "must be true or false")
            clean[qid] = value
        elif kind in ("number", "integer"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise AnswerInvalid(field, f"must be a{'' if kind == 'number' else 'n'} {kind}")
            if kind == "integer" and (isinstance(value, float) and not value.is_integer()):
                raise AnswerInvalid(field, "must be a whole number")
            if not math.isfinite(value) or not q["min"] <= value <= q["max"]:
                unit = f" {q['unit']}" if q.get("unit") else ""
                raise AnswerInvalid(
                    field, f"must be between {q['min']} and {q['max']}{unit}, got {value}"
                )
            clean[qid] = int(value) if kind == "integer" else float(value)
        else:  # multi
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise AnswerInvalid(field, "must be a list of option ids")
            options = {o["id"] for o in q["options"]}
            unknown = sorted(set(value) - options)
            if unknown:
                raise AnswerInvalid(field, f"unknown option {unknown[0]!r}")
            clean[qid] = sorted(set(value))
    return clean


# --------------------------------------------------------------------------------------------
# evaluation


def _holds(cond: Mapping[str, Any], answers: Mapping[str, Any], rules: Rules) -> bool:
    if "all" in cond:
        return all(_holds(c, answers, rules) for c in cond["all"])
    if "any" in cond:
        return any(_holds(c, answers, rules) for c in cond["any"])
    if "condition" in cond:
        return _holds(rules.conditions[cond["condition"]], answers, rules)
    value = answers.get(cond["answer"])
    if value is None:
        return False
    if "is" in cond:
        return bool(value is cond["is"])
    if "includes_any" in cond:
        return bool(set(value) & set(cond["includes_any"]))
    if "gte" in cond:
        return bool(value >= cond["gte"])
    if "gt" in cond:
        return bool(value > cond["gt"])
    if "lte" in cond:
        return bool(value <= cond["lte"])
    return bool(value < cond["lt"])


def assess(answers: Mapping[str, Any], rules: Rules) -> Assessment:
    """The recommendation for `answers` (validated first): the most severe of the fired
    rules', with their reasons; stay home and monitor when none fires."""
    clean = validate_answers(answers, rules)
    fired = [r for r in rules.rules if _holds(r["when"], clean, rules)]
    if not fired:
        top = RECOMMENDATIONS[0]
        reasons: tuple[str, ...] = (str(rules.document.get("default_reason", "")),)
    else:
        top = max((r["recommendation"] for r in fired), key=severity)
        reasons = tuple(r["reason"] for r in fired if r["recommendation"] == top)
    return Assessment(
        recommendation=top,
        fired=tuple(r["id"] for r in fired),
        reasons=reasons,
        advice=str(rules.document["recommendations"][top]),
    )
