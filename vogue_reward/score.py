"""verl's custom reward: ``compute_score`` for one response, ``compute_score_batch`` for many.

score = (1 − format_weight)·acc + format_weight·format   (METHOD.md §6: format_weight = 0.1;
format_weight = 0 is the authors' released code). Every call returns the same keys (verl turns each
into a metric; ``acc`` feeds val-core, ``pred`` enables maj@k):

    score, acc, format   floats in [0, 1]
    pred                 canonical extracted answer ("" if none), what maj@k votes on
    verify_failed        1.0 when the symbolic check hit the time bound or was skipped as too costly
                         (math_equivalence.too_costly_for_sympy); acc counts 0
    rejected             1.0 for a response that is not a string, longer than max_response_chars,
                         or contains special tokens such as <|image_pad|> (score 0)
    bad_row              1.0 when the ground truth or an extra_info field breaks the documented form
                         (score counts acc 0; logged once per data source and field)
    internal_error       1.0 if a matcher raised (a bug: logged with its traceback; score 0)
    row_source, row_id   the prompt's identity, strings: ``str(data_source)`` and ``row_id(extra_info)``
                         (extra_info["index"] as text, "" when the row has none). verl copies every key
                         into its validation dump (``trainer.validation_data_dir``), so dumped responses
                         are grouped per prompt by (row_source, row_id), never by prompt text. Not named
                         ``data_source``: verl writes reward keys into the rollout's non-tensor columns,
                         and ``DataProto.union`` with the batch's own ``data_source`` column (an object
                         array, this one a str array) fails its equality assertion. Strings keep verl's
                         validation metrics (which skip string keys) and training loop unaffected.

Data never makes these functions raise. Bad settings raise ValueError naming the setting
(``validate_settings``), unknown keyword arguments TypeError, and a symbolic worker that cannot start
at all ``WorkerUnavailable``.
"""

from __future__ import annotations

import functools
import logging
import math
import numbers
import re
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

from vogue_reward.answer_types import ANSWER_TYPES, NUMERIC_RULES, infer_answer_type, infer_numeric_rule
from vogue_reward.extraction import candidate_answer, last_boxed
from vogue_reward.format_reward import format_reward
from vogue_reward.math_equivalence import as_stated, canonical_math, hedges, in_latex, quick_math_verdict, too_costly_for_sympy
from vogue_reward.matchers import BadGroundTruth, Match, match_choice, match_number, match_text, match_yesno
from vogue_reward.verdicts import MISSING, VerdictCache
from vogue_reward.worker_pool import WorkerUnavailable, shared_pool

DEFAULT_FORMAT_WEIGHT = 0.1
DEFAULT_MATH_TIMEOUT = 5.0
MAX_MATH_TIMEOUT = 600.0  # real answers take well under a second; a longer bound would stall a step
DEFAULT_MAX_RESPONSE_CHARS = 100_000  # 2048 tokens are ~10k characters; beyond 10× that is degenerate
MAX_ANSWER_CHARS = 1_000  # a longer extracted answer is not an answer; never sent to sympy
MAX_PRED_CHARS = 256
RESULT_KEYS = (
    "score", "acc", "format", "pred", "verify_failed", "rejected", "bad_row", "internal_error", "row_source", "row_id",
)
TEXT_KEYS = ("pred", "row_source", "row_id")  # the other keys are floats in [0, 1]
# keyword arguments verl's reward managers add on their own (ignored here)
_VERL_KEYWORDS = frozenset({"reward_router_address", "reward_model_tokenizer"})
_END_TOKENS = ("<|im_end|>", "<|endoftext|>")
_SPECIAL_TOKEN = re.compile(r"<\|[A-Za-z0-9_]+\|>")

logger = logging.getLogger(__name__)
_reported: set[tuple[str, str]] = set()
_verdicts = VerdictCache(maxsize=1 << 16)

Verdict = Callable[[str, str], "bool | None"]


class Settings(NamedTuple):
    format_weight: float
    math_timeout: float
    max_response_chars: int


class _Deferred(Exception):
    """compute_score_batch's first pass: this row waits for a symbolic check to finish."""


def _report_once(key: tuple[str, str], message: str, *args, exc_info: bool = False) -> None:
    if key not in _reported:
        _reported.add(key)
        logger.warning(message, *args, exc_info=exc_info)


def _number_setting(name: str, value, lowest: float, highest: float, lowest_allowed: bool) -> float:
    interval = f"{'[' if lowest_allowed else '('}{lowest:g}, {highest:g}]"
    problem = f"{name} must be a number in {interval}, got {value!r} ({type(value).__name__})"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(problem)
    number = float(value)
    if not (lowest < number <= highest or (lowest_allowed and number == lowest)):
        raise ValueError(problem)
    return number


def validate_settings(
    format_weight=DEFAULT_FORMAT_WEIGHT,
    math_timeout=DEFAULT_MATH_TIMEOUT,
    max_response_chars=DEFAULT_MAX_RESPONSE_CHARS,
    **verl_keywords,
) -> Settings:
    """The keyword settings of ``compute_score``, checked: ``format_weight`` in [0, 1], ``math_timeout``
    in (0, ``MAX_MATH_TIMEOUT``] seconds, ``max_response_chars`` a positive integer. ValueError names
    the setting; an unknown keyword raises TypeError (a typo must not fall back to the defaults)."""
    unknown = sorted(set(verl_keywords) - _VERL_KEYWORDS)
    if unknown:
        raise TypeError(f"compute_score got unknown keyword argument(s) {unknown} (check reward_kwargs)")
    limit = _number_setting("max_response_chars", max_response_chars, 1, math.inf, True)
    if not limit.is_integer():
        raise ValueError(f"max_response_chars must be a positive integer, got {max_response_chars!r}")
    return Settings(
        format_weight=_number_setting("format_weight", format_weight, 0.0, 1.0, True),
        math_timeout=_number_setting("math_timeout", math_timeout, 0.0, MAX_MATH_TIMEOUT, False),
        max_response_chars=int(limit),
    )


def _usable_response(solution_str, max_response_chars: int) -> str | None:
    """The response without trailing end-of-turn tokens, or None if it must be rejected."""
    if not isinstance(solution_str, str) or len(solution_str) > max_response_chars:
        return None
    response = _without_end_tokens(solution_str)
    return None if _SPECIAL_TOKEN.search(response) else response


def _without_end_tokens(text: str) -> str:
    """``text`` without the trailing end-of-turn tokens and whitespace between them (linear time)."""
    end = len(text)
    while True:
        while end and text[end - 1].isspace():
            end -= 1
        token = next((token for token in _END_TOKENS if text.endswith(token, 0, end)), None)
        if token is None:
            return text[:end]
        end -= len(token)


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def row_id(extra_info) -> str:
    """The row's id within its data source: ``extra_info["index"]`` as text (an integral number, also a
    float or numpy one, without a decimal point: 7, 7.0 and np.int64(7) are "7"); "" when extra_info is
    not a dict or has no index (such rows cannot be told apart in a dump; ``recipe.vogue.evaluation.run``
    refuses them)."""
    index = extra_info.get("index") if isinstance(extra_info, Mapping) else None
    if _is_missing(index):
        return ""
    if isinstance(index, numbers.Real) and not isinstance(index, bool) and float(index).is_integer():
        return str(int(index))
    return str(index)


def _truth_text(ground_truth) -> str:
    """The ground truth as text: a string, or a finite int/float (numpy scalars too) in its shortest
    decimal form; NaN, infinities and booleans are bad rows."""
    if isinstance(ground_truth, str):
        truth = ground_truth.strip()
    elif isinstance(ground_truth, numbers.Real) and not isinstance(ground_truth, bool):
        if not math.isfinite(ground_truth):
            raise BadGroundTruth("ground_truth", f"not a finite number: {ground_truth!r}")
        truth = str(int(ground_truth)) if isinstance(ground_truth, numbers.Integral) else str(ground_truth)
    else:
        raise BadGroundTruth("ground_truth", f"expected a string or a number, got {type(ground_truth).__name__}")
    if not truth or len(truth) > MAX_ANSWER_CHARS:
        raise BadGroundTruth("ground_truth", f"empty or longer than {MAX_ANSWER_CHARS} characters")
    return truth


def _choices(extra_info: Mapping) -> list[str] | None:
    choices = extra_info.get("choices")
    if _is_missing(choices):
        return None
    problem = BadGroundTruth("extra_info.choices", f"not a list of option texts: {type(choices).__name__}")
    if isinstance(choices, (str, bytes, Mapping)):
        raise problem
    try:
        return [str(choice) for choice in choices] or None
    except TypeError:  # not iterable (a number, a 0-d numpy array)
        raise problem from None


def _precision(extra_info: Mapping) -> int | None:
    precision = extra_info.get("precision")
    if _is_missing(precision):
        return None
    try:
        value = float(precision)
    except (TypeError, ValueError):
        value = math.nan
    if not (value.is_integer() and 0 <= value <= 20):
        raise BadGroundTruth("extra_info.precision", f"not a number of decimal places: {precision!r}")
    return int(value)


def _numeric_rule(data_source: str, extra_info: Mapping, precision: int | None) -> str:
    rule = extra_info.get("numeric_rule")
    if _is_missing(rule) or rule == "":
        return infer_numeric_rule(data_source, precision)
    if rule not in NUMERIC_RULES:
        raise BadGroundTruth("extra_info.numeric_rule", f"{rule!r} is not one of {NUMERIC_RULES}")
    if precision is not None and rule != "precision":
        raise BadGroundTruth("extra_info.precision", f"given, but numeric_rule {rule!r} does not round")
    return rule


def _symbolic_verdict(prediction: str, truth: str, timeout: float) -> bool | None:
    """The worker's verdict, None when it hit the time bound; both remembered for this process."""
    return _verdicts.get((prediction, truth, timeout), lambda: shared_pool().equivalent(prediction, truth, timeout))


def clear_verdict_cache() -> None:
    _verdicts.clear()


def _match_math(response: str, truth: str, verdict: Verdict) -> tuple[Match, bool]:
    """Last ``\\boxed{}`` vs the ground truth (``math_equivalence``); returns (match, not verified)."""
    prediction = last_boxed(response)
    if not prediction or len(prediction) > MAX_ANSWER_CHARS:
        return Match(0.0, ""), False
    prediction, truth = in_latex(prediction), in_latex(truth)
    prediction = as_stated(prediction, truth)
    if hedges(prediction, truth):
        return Match(0.0, canonical_math(prediction)), False
    decided = quick_math_verdict(prediction, truth)
    if decided is None and not (too_costly_for_sympy(prediction) or too_costly_for_sympy(truth)):
        decided = verdict(prediction, truth)
    return Match(float(bool(decided)), canonical_math(prediction)), decided is None


def _match(answer_type: str, source: str, response: str, truth: str, extra_info: Mapping, verdict: Verdict):
    if answer_type == "math":
        return _match_math(response, truth, verdict)
    candidate = candidate_answer(response)
    if candidate is not None and len(candidate) > MAX_ANSWER_CHARS:
        candidate = None
    if answer_type == "choice":
        return match_choice(candidate, truth, _choices(extra_info)), False
    if answer_type == "yesno":
        return match_yesno(candidate, truth), False
    if answer_type == "number":
        precision = _precision(extra_info)
        return match_number(candidate, truth, _numeric_rule(source, extra_info, precision), precision), False
    return match_text(candidate, truth), False


def _answer_type(data_source: str, truth: str, extra_info: Mapping) -> str:
    answer_type = extra_info.get("answer_type")
    if _is_missing(answer_type) or answer_type == "":
        return infer_answer_type(data_source, truth, _choices(extra_info))
    if answer_type not in ANSWER_TYPES:
        raise BadGroundTruth("extra_info.answer_type", f"{answer_type!r} is not one of {ANSWER_TYPES}")
    return answer_type


def _score(row: tuple, settings: Settings, verdict: Verdict) -> dict:
    data_source, solution_str, ground_truth, extra_info = row
    result = dict.fromkeys(RESULT_KEYS, 0.0)
    result["pred"] = ""
    response = _usable_response(solution_str, settings.max_response_chars)
    if response is None:
        result["rejected"] = 1.0
        return result
    result["format"] = format_reward(response)
    source = str(data_source)
    try:
        truth = _truth_text(ground_truth)
        if not (extra_info is None or isinstance(extra_info, Mapping)):
            raise BadGroundTruth("extra_info", f"expected a dict, got {type(extra_info).__name__}")
        info = extra_info or {}
        match, unverified = _match(_answer_type(source, truth, info), source, response, truth, info, verdict)
    except BadGroundTruth as error:
        _report_once((source, error.field), "vogue_reward: bad row in %s (scored acc 0): %s", source, error)
        result["bad_row"] = 1.0
        match, unverified = Match(0.0, ""), False
    result["acc"] = match.acc
    result["pred"] = match.pred[:MAX_PRED_CHARS]
    result["verify_failed"] = float(unverified)
    result["score"] = (1.0 - settings.format_weight) * match.acc + settings.format_weight * result["format"]
    return result


def _guarded_score(row: tuple, settings: Settings, verdict: Verdict) -> dict:
    """``_score`` plus the row's identity, with a matcher bug counted as ``internal_error`` instead of raised."""
    try:
        result = _score(row, settings, verdict)
    except (WorkerUnavailable, _Deferred):
        raise
    except Exception as error:
        _report_once(("internal_error", type(error).__name__), "vogue_reward: matcher failed", exc_info=True)
        result = dict.fromkeys(RESULT_KEYS, 0.0)
        result.update(pred="", internal_error=1.0)
    result.update(row_source=str(row[0]), row_id=row_id(row[3]))
    return result


def compute_score(
    data_source,
    solution_str,
    ground_truth,
    extra_info=None,
    *,
    format_weight: float = DEFAULT_FORMAT_WEIGHT,
    math_timeout: float = DEFAULT_MATH_TIMEOUT,
    max_response_chars: int = DEFAULT_MAX_RESPONSE_CHARS,
    **verl_keywords,
) -> dict:
    """Reward of one response (keys and rules: module docstring and docs/rewards.md "Rewards and answer types").

    Set ``format_weight``, ``math_timeout`` (seconds per symbolic check) and ``max_response_chars``
    through ``reward.custom_reward_function.reward_kwargs``.
    """
    settings = validate_settings(format_weight, math_timeout, max_response_chars, **verl_keywords)
    verdict = functools.partial(_symbolic_verdict, timeout=settings.math_timeout)
    return _guarded_score((data_source, solution_str, ground_truth, extra_info), settings, verdict)


def compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos=None, **settings) -> list[dict]:
    """``compute_score`` over many responses; same keyword settings (validated once), argument names
    of verl's batch reward managers, results in input order.

    The rows are scored in order in the calling thread. A symbolic check that is not cached yet goes
    to a queue served by one thread per worker process, each distinct check once: the rollouts of a
    prompt that repeat an answer share its verdict, and the distinct slow checks run side by side on
    all workers (not one after another behind a thread's share of rows). The rows that needed a check
    are scored again once every check has its verdict."""
    valid = validate_settings(**settings)
    count = len(solution_strs)
    extra_infos = [None] * count if extra_infos is None else extra_infos
    if not len(data_sources) == len(ground_truths) == len(extra_infos) == count:
        raise ValueError(
            f"batch lengths differ: {len(data_sources)} data_sources, {count} solution_strs, "
            f"{len(ground_truths)} ground_truths, {len(extra_infos)} extra_infos"
        )
    rows = list(zip(data_sources, solution_strs, ground_truths, extra_infos))
    results: list[dict | None] = [None] * count
    checks: dict[tuple[str, str], Future] = {}
    with ThreadPoolExecutor(max_workers=shared_pool().size) as executor:

        def cached_or_queued(prediction: str, truth: str) -> bool | None:
            known = _verdicts.lookup((prediction, truth, valid.math_timeout))
            if known is not MISSING:
                return known
            if (prediction, truth) not in checks:
                checks[prediction, truth] = executor.submit(_symbolic_verdict, prediction, truth, valid.math_timeout)
            raise _Deferred

        for index, row in enumerate(rows):
            try:
                results[index] = _guarded_score(row, valid, cached_or_queued)
            except _Deferred:
                pass
        for check in checks.values():
            check.result()  # raises WorkerUnavailable
    verdict = functools.partial(_symbolic_verdict, timeout=valid.math_timeout)
    return [_guarded_score(row, valid, verdict) if result is None else result for result, row in zip(results, rows)]
