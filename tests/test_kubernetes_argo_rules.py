"""The rendered analyses, run through Argo Rollouts' own rules.

Two small, faithful re-implementations live here, in the test:

- ``evaluate``: the subset of expr-lang the rendered conditions use (``len``, ``isNaN``,
  ``result[i]``, ``!``, ``&&``, ``||``, comparisons, numbers, ``true``/``false``), with
  expr's behaviour of failing on an index out of range; and Argo's
  ``EvaluateResult`` (utils/evaluate/evaluate.go): an evaluation error is an Error
  measurement, the failure condition wins, neither holding is Inconclusive.
- ``assess``: ``assessMetricStatus`` (analysis/analysis.go): Failed when failed
  measurements exceed ``failureLimit``, Inconclusive when inconclusive ones exceed
  ``inconclusiveLimit``, Error when consecutive errors exceed ``consecutiveErrorLimit``
  (default 4), Successful once ``count`` measurements are taken, else Running.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from tests.kubernetes_support import by_kind, render, settings

NAN = math.nan
TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?(?:e-?\d+)?)|(&&|\|\||[<>=!]=|[()\[\]<>!])|([A-Za-z]\w*))")


class EvalError(Exception):
    """What expr reports (an index out of range, an unknown name): an Error measurement."""


def tokenize(text: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(text.rstrip()):
        m = TOKEN.match(text, pos)
        if not m:
            raise EvalError(f"cannot parse {text[pos:]!r}")
        tokens.append(m.group(m.lastindex or 0))
        pos = m.end()
    return tokens


class Parser:
    """Recursive descent over: or := and ('||' and)*; and := cmp ('&&' cmp)*;
    cmp := unary (op unary)?; unary := '!' unary | atom; atom := num | bool | call | result[i]."""

    def __init__(self, text: str, result: Any) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.result = result

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise EvalError(f"expected {expected!r}, got {token!r}")
        self.pos += 1
        return token

    def parse(self) -> Any:
        value = self.or_()
        if self.peek() is not None:
            raise EvalError(f"unexpected {self.peek()!r}")
        return value

    # expr evaluates && and || with short-circuit, which the guards rely on.
    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == "||":
            self.take()
            right = self.lazy(self.and_)
            value = bool(value) or bool(right())
        return value

    def and_(self) -> Any:
        value = self.cmp()
        while self.peek() == "&&":
            self.take()
            right = self.lazy(self.cmp)
            value = bool(value) and bool(right())
        return value

    def lazy(self, rule: Any) -> Any:
        """Parse the operand now, evaluate it only if asked (short-circuit)."""
        start = self.pos
        try:
            value = rule()
            return lambda: value
        except EvalError as exc:
            # Skip the operand's tokens without evaluating: re-parse with a dummy result.
            self.pos = start
            saved, self.result = self.result, [0.0]
            rule()
            self.result = saved
            error = exc

            def fail() -> Any:
                raise error

            return fail

    def cmp(self) -> Any:
        left = self.unary()
        if self.peek() in ("<", "<=", ">", ">=", "==", "!="):
            op = self.take()
            right = self.unary()
            ops = {
                "<": left < right,
                "<=": left <= right,
                ">": left > right,
                ">=": left >= right,
                "==": left == right,
                "!=": left != right,
            }
            return ops[op]
        return left

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not self.unary()
        return self.atom()

    def atom(self) -> Any:
        token = self.take()
        if token == "(":
            value = self.or_()
            self.take(")")
            return value
        if re.fullmatch(r"\d.*", token):
            return float(token)
        if token in ("true", "false"):
            return token == "true"
        if token in ("len", "isNaN"):
            self.take("(")
            arg = self.or_()
            self.take(")")
            return len(arg) if token == "len" else math.isnan(arg)
        if token == "result":
            value = self.result
            while self.peek() == "[":
                self.take()
                index = int(self.or_())
                self.take("]")
                if not isinstance(value, list) or not 0 <= index < len(value):
                    raise EvalError(f"index out of range: {index} (array length {len(value)})")
                value = value[index]
            return value
        raise EvalError(f"unknown name {token!r}")


def evaluate(condition: str, result: Any) -> bool:
    value = Parser(condition, result).parse()
    if not isinstance(value, bool):
        raise EvalError(f"expected bool, but got {type(value).__name__}")
    return value


def measurement_phase(metric: dict[str, Any], result: Any) -> str:
    """Argo's EvaluateResult for one measurement; ``result`` None means the query failed."""
    if result is None:
        return "Error"
    try:
        success = (
            evaluate(metric["successCondition"], result) if "successCondition" in metric else False
        )
        failure = (
            evaluate(metric["failureCondition"], result) if "failureCondition" in metric else False
        )
    except EvalError:
        return "Error"
    has_s, has_f = "successCondition" in metric, "failureCondition" in metric
    if not has_s and not has_f:
        return "Successful"
    if has_s and not has_f:
        failure = not success
    elif has_f and not has_s:
        success = not failure
    if failure:
        return "Failed"
    if not success:
        return "Inconclusive"
    return "Successful"


def assess(metric: dict[str, Any], results: list[Any]) -> str:
    """assessMetricStatus after each measurement, stopping when the metric completes."""
    counts = {"Successful": 0, "Failed": 0, "Inconclusive": 0, "Error": 0}
    consecutive_errors = count = 0
    for result in results:
        phase = measurement_phase(metric, result)
        counts[phase] += 1
        if phase == "Error":
            consecutive_errors += 1
        else:
            count += 1
            consecutive_errors = 0
        verdict = ""
        if counts["Failed"] > int(metric.get("failureLimit", 0)):
            verdict = "Failed"
        if counts["Inconclusive"] > int(metric.get("inconclusiveLimit", 0)):
            verdict = "Inconclusive"
        if consecutive_errors > int(metric.get("consecutiveErrorLimit", 4)):
            verdict = "Error"
        if verdict:
            return verdict
        if count >= int(metric["count"]):
            return "Successful"
    return "Running"


def run_analysis(template: dict[str, Any], readings: dict[str, list[Any]]) -> dict[str, str]:
    return {m["name"]: assess(m, readings[m["name"]]) for m in template["spec"]["metrics"]}


def overall(phases: dict[str, str]) -> str:
    """An AnalysisRun's phase from its metrics' (analysis.go: the worst one wins)."""
    for phase in ("Failed", "Error", "Inconclusive", "Running"):
        if phase in phases.values():
            return phase
    return "Successful"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> dict[str, Any]:
    conf = settings({"monitor": {"signals": {"max_error_rate": 0.01, "max_p99_ms": 200}}})
    docs = render(Path(tmp_path_factory.mktemp("argo")), "canary", conf)
    first = next(
        d for d in by_kind(docs, "AnalysisTemplate") if d["metadata"]["name"].endswith("-1")
    )
    assert {m["count"] for m in first["spec"]["metrics"]} == {3}
    return first


def test_the_evaluator_follows_expr_on_the_rendered_subset():
    assert evaluate("len(result) > 0 && !isNaN(result[0]) && result[0] >= 0.5", [0.7])
    assert not evaluate("len(result) > 0 && !isNaN(result[0]) && result[0] >= 0.5", [])
    assert not evaluate("len(result) > 0 && !isNaN(result[0]) && result[0] >= 0.5", [NAN])
    assert evaluate("false || true", [])
    with pytest.raises(EvalError, match="index out of range"):
        evaluate("result[0] >= 0.5", [])  # the old template's condition on an empty result


# Readings per measurement: request-count per window (min 34 per 30 s window for 100
# requests over 3 windows at weight 10), success rate, p99 seconds, KS distance.
HEALTHY = {
    "request-count": 60.0,
    "success-rate": 0.999,
    "latency-p99": 0.02,
    "prediction-drift": 0.03,
}


def readings(**changes: Any) -> dict[str, list[Any]]:
    out = {k: [[v]] * 3 for k, v in HEALTHY.items()}
    out.update(changes)
    return out


CASES = [
    ("healthy", readings(), "Successful", {}),
    (
        "half the requests fail",
        readings(**{"success-rate": [[0.5]] * 3}),
        "Failed",
        {"success-rate": "Failed"},
    ),
    (
        "one bad window of errors fails at once",
        readings(**{"success-rate": [[0.999], [0.6], [0.999]]}),
        "Failed",
        {"success-rate": "Failed"},
    ),
    ("slow", readings(**{"latency-p99": [[0.9]] * 3}), "Failed", {"latency-p99": "Failed"}),
    (
        "predictions moved",
        readings(**{"prediction-drift": [[0.6]] * 3}),
        "Failed",
        {"prediction-drift": "Failed"},
    ),
    (
        "low traffic",
        readings(**{"request-count": [[5.0]] * 3}),
        "Inconclusive",
        {"request-count": "Inconclusive"},
    ),
    (
        "no traffic at all (empty vectors, NaN ratios)",
        {
            "request-count": [[]] * 3,
            "success-rate": [[]] * 3,
            "latency-p99": [[NAN]] * 3,
            "prediction-drift": [[NAN]] * 3,
        },
        "Inconclusive",
        {"request-count": "Inconclusive", "success-rate": "Inconclusive"},
    ),
    (
        "Prometheus unreachable",
        {k: [None] * 5 for k in HEALTHY},
        "Error",
        {"success-rate": "Error"},
    ),
]


@pytest.mark.parametrize(
    ("case", "data", "expected", "metric_phases"), CASES, ids=[c[0] for c in CASES]
)
def test_rendered_metrics_decide_by_argos_rules(template, case, data, expected, metric_phases):
    phases = run_analysis(template, data)
    assert overall(phases) == expected, phases
    for name, phase in metric_phases.items():
        assert phases[name] == phase, phases


def test_the_old_single_measurement_rules_could_not_fail():
    """What issue 17 found: count 1 with failureLimit 1 passes a 50% error rate."""
    old = {"successCondition": "result[0] >= 0.99", "failureLimit": 1, "count": 1}
    assert assess(old, [[0.5]]) == "Successful"
    assert measurement_phase(old, []) == "Error"  # and an empty result was an evaluation error
