"""The self-diagnosis engine and its rules file: the file is a well-formed, cited rule set;
the case definition's cases give the expected recommendation; bad answers name the field; a
worse answer never lowers the recommendation (property test)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epicity.triage.engine import (
    CURRENT_RULES,
    RECOMMENDATIONS,
    AnswerInvalid,
    RulesInvalid,
    assess,
    load_rules,
    parse_rules,
    severity,
    validate_answers,
)

RULES = load_rules()
SYMPTOMS = [o["id"] for o in RULES.questions["symptoms"]["options"]]
RED_FLAGS = ["trouble_breathing_at_rest", "chest_pain", "confusion", "bluish_lips"]
BASE: dict[str, Any] = {
    "symptoms": [],
    "contact_with_confirmed_case": False,
    "overseas_travel_14d": False,
}


def _rec(**answers: Any) -> str:
    return assess({**BASE, **answers}, RULES).recommendation


# -- the rules file ---------------------------------------------------------------------------


def test_the_shipped_rules_file_is_valid_cited_and_versioned() -> None:
    assert RULES.id == CURRENT_RULES == "kdca-2020-v1"
    assert RULES.version == 1
    assert len(RULES.sha256) == 64
    source = RULES.document["source"]
    assert "Response Guidelines" in source["citation"]
    assert "37.5" in " ".join(source["followed"])
    assert "paraphrased" in source["paraphrased"]
    for q in ("symptoms", "temperature_c", "contact_with_confirmed_case", "overseas_travel_14d"):
        assert q in RULES.questions
    for s in ("fever", "cough", "sore_throat", "shortness_of_breath", "loss_of_taste_or_smell"):
        assert s in SYMPTOMS
    recommended = {r["recommendation"] for r in RULES.rules}
    assert recommended == set(RECOMMENDATIONS)
    # same bytes, same hash
    assert load_rules().sha256 == RULES.sha256


def _broken(change: Any) -> bytes:
    doc = json.loads(json.dumps(RULES.document))
    change(doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("source"), "source: missing"),
        (lambda d: d["source"].pop("paraphrased"), "paraphrased"),
        (lambda d: d["rules"].append(dict(d["rules"][0])), "repeated"),
        (lambda d: d["rules"][0].update(recommendation="pray"), "recommendation"),
        (lambda d: d["rules"][0].update(when={"answer": "nope", "is": True}), "unknown question"),
        (lambda d: d["rules"][0].update(when={"answer": "age", "is": True}), "does not apply"),
        # a test for `false` would be a negation: refused (monotone rules only)
        (
            lambda d: d["rules"][0].update(when={"answer": "overseas_travel_14d", "is": False}),
            "does not apply",
        ),
        (lambda d: d["conditions"].update(loop={"condition": "loop"}), "itself"),
        (
            lambda d: d["rules"][0].update(
                when={"answer": "symptoms", "includes_any": ["hiccups"]}
            ),
            "options",
        ),
    ],
)
def test_malformed_rules_are_refused(change: Any, message: str) -> None:
    with pytest.raises(RulesInvalid, match=message):
        parse_rules(_broken(change))


def test_an_unknown_rules_file_is_refused() -> None:
    with pytest.raises(RulesInvalid, match="no rules file"):
        load_rules("kdca-1999-v9")
    with pytest.raises(RulesInvalid, match="letters"):
        load_rules("../secrets")


# -- the case definition ----------------------------------------------------------------------


def test_nothing_wrong_means_stay_home() -> None:
    a = assess(BASE, RULES)
    assert a.recommendation == "stay_home_monitor"
    assert a.fired == ()
    assert a.reasons
    assert a.advice


def test_suspected_case_fever_after_contact() -> None:
    a = assess({**BASE, "temperature_c": 37.5, "contact_with_confirmed_case": True}, RULES)
    assert a.recommendation == "get_tested"
    assert "suspected_case_contact" in a.fired
    assert any("Suspected case" in r for r in a.reasons)
    # 37.4 C is not a fever by the definition: the contact alone still gets tested
    b = assess({**BASE, "temperature_c": 37.4, "contact_with_confirmed_case": True}, RULES)
    assert "suspected_case_contact" not in b.fired
    assert b.recommendation == "get_tested"


def test_patient_under_investigation_after_travel_or_cluster() -> None:
    assert (
        "pui_overseas"
        in assess({**BASE, "symptoms": ["cough"], "overseas_travel_14d": True}, RULES).fired
    )
    assert _rec(symptoms=["sore_throat"], cluster_link=True) == "get_tested"
    assert _rec(pneumonia_diagnosed=True) == "get_tested"


def test_symptoms_without_exposure_stay_home() -> None:
    a = assess({**BASE, "symptoms": ["cough", "headache"], "temperature_c": 38.0}, RULES)
    assert a.recommendation == "stay_home_monitor"
    assert a.fired == ("symptoms_no_exposure",)


@pytest.mark.parametrize("flag", RED_FLAGS)
def test_emergency_signs_mean_urgent_care(flag: str) -> None:
    assert _rec(symptoms=[flag]) == "urgent_care"


def test_low_oxygen_and_high_risk_breathlessness_mean_urgent_care() -> None:
    assert _rec(spo2_percent=93.0) == "urgent_care"
    assert _rec(spo2_percent=94.0) == "stay_home_monitor"
    breathless = {"symptoms": ["fever", "shortness_of_breath"]}
    assert _rec(**breathless) == "stay_home_monitor"
    assert _rec(**breathless, age=70) == "urgent_care"
    assert _rec(**breathless, age=40, underlying_conditions=True) == "urgent_care"


# -- bad answers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "field", "problem"),
    [
        ({"mood": "sad"}, "answers.mood", "no such question"),
        ({"temperature_c": 50}, "answers.temperature_c", "between 34.0 and 43.0"),
        ({"temperature_c": "38"}, "answers.temperature_c", "must be a number"),
        ({"temperature_c": True}, "answers.temperature_c", "must be a number"),
        ({"temperature_c": float("nan")}, "answers.temperature_c", "between"),
        ({"age": 33.5}, "answers.age", "whole number"),
        ({"age": -1}, "answers.age", "between"),
        ({"contact_with_confirmed_case": "yes"}, "answers.contact_with_confirmed_case", "true"),
        ({"symptoms": "cough"}, "answers.symptoms", "list"),
        ({"symptoms": ["hiccups"]}, "answers.symptoms", "unknown option 'hiccups'"),
        ({"symptoms": None}, "answers.symptoms", "required"),
    ],
)
def test_bad_answers_name_the_field(answers: dict[str, Any], field: str, problem: str) -> None:
    with pytest.raises(AnswerInvalid, match=problem) as err:
        assess({**BASE, **answers}, RULES)
    assert err.value.field == field


def test_answers_are_normalised() -> None:
    clean = validate_answers({**BASE, "symptoms": ["cough", "fever", "cough"], "age": 40.0}, RULES)
    assert clean["symptoms"] == ["cough", "fever"]
    assert clean["age"] == 40
    assert isinstance(clean["age"], int)
    assert "temperature_c" not in clean


# -- monotonicity -----------------------------------------------------------------------------

answers_strategy = st.fixed_dictionaries(
    {
        "symptoms": st.lists(st.sampled_from(SYMPTOMS), unique=True),
        "contact_with_confirmed_case": st.booleans(),
        "overseas_travel_14d": st.booleans(),
    },
    optional={
        "temperature_c": st.floats(34.0, 43.0),
        "spo2_percent": st.floats(50.0, 100.0),
        "cluster_link": st.booleans(),
        "pneumonia_diagnosed": st.booleans(),
        "age": st.integers(0, 120),
        "underlying_conditions": st.booleans(),
    },
)


def _worse(answers: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """The same answers with one thing made worse."""
    worse = dict(answers)
    what = data.draw(
        st.sampled_from(
            ["symptom", "temperature", "spo2", "age", "contact", "travel", "cluster", "chronic"]
        )
    )
    if what == "symptom":
        worse["symptoms"] = sorted({*answers["symptoms"], data.draw(st.sampled_from(SYMPTOMS))})
    elif what == "temperature":
        worse["temperature_c"] = data.draw(st.floats(answers.get("temperature_c", 34.0), 43.0))
    elif what == "spo2":
        worse["spo2_percent"] = data.draw(st.floats(50.0, answers.get("spo2_percent", 100.0)))
    elif what == "age":
        worse["age"] = data.draw(st.integers(answers.get("age", 0), 120))
    else:
        key = {
            "contact": "contact_with_confirmed_case",
            "travel": "overseas_travel_14d",
            "cluster": "cluster_link",
            "chronic": "underlying_conditions",
        }[what]
        worse[key] = True
    return worse


@settings(max_examples=400, deadline=None)
@given(answers=answers_strategy, data=st.data())
def test_a_worse_answer_never_lowers_the_recommendation(
    answers: dict[str, Any], data: st.DataObject
) -> None:
    before = assess(answers, RULES)
    after = assess(_worse(answers, data), RULES)
    assert severity(after.recommendation) >= severity(before.recommendation)
    assert set(before.fired) <= set(after.fired)


@settings(max_examples=200, deadline=None)
@given(answers=answers_strategy, flag=st.sampled_from(RED_FLAGS))
def test_a_red_flag_always_means_urgent_care(answers: dict[str, Any], flag: str) -> None:
    answers["symptoms"] = sorted({*answers["symptoms"], flag})
    assert assess(answers, RULES).recommendation == "urgent_care"
