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

Data never makes these functions raise. Bad settings (weights, timeouts, unknown keyword
arguments) raise ValueError/TypeError, and so does a symbolic worker that cannot start at all.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from vogue_reward.answer_types import ANSWER_TYPES, infer_answer_type
from vogue_reward.extraction import candidate_answer, last_boxed
from vogue_reward.format_reward import format_reward
from vogue_reward.math_equivalence import canonical_math, quick_math_verdict, too_costly_for_sympy
from vogue_reward.matchers import BadGroundTruth, Match, match_choice, match_number, match_text, match_yesno
from vogue_reward.worker_pool import WorkerUnavailable, shared_pool

DEFAULT_FORMAT_WEIGHT = 0.1
DEFAULT_MATH_TIMEOUT = 5.0
DEFAULT_MAX_RESPONSE_CHARS = 100_000  # 2048 tokens are ~10k characters; beyond 10× that is degenerate
MAX_ANSWER_CHARS = 1_000  # a longer extracted answer is not an answer; never sent to sympy
MAX_PRED_CHARS = 256
BATCH_CHUNK = 40  # a multiple of the usual rollout counts (5, 8)
RESULT_KEYS = ("score", "acc", "format", "pred", "verify_failed", "rejected", "bad_row", "internal_error")
# keyword arguments verl's reward managers add on their own (ignored here)
_VERL_KEYWORDS = frozenset({"reward_router_address", "reward_model_tokenizer"})
_END_TOKENS = ("<|im_end|>", "<|endoftext|>")
_SPECIAL_TOKEN = re.compile(r"<\|[A-Za-z0-9_]+\|>")

logger = logging.getLogger(__name__)
_reported: set[tuple[str, str]] = set()


class _Unverified(Exception):
    """The worker did not answer in time (raised so that lru_cache does not remember it)."""


def _report_once(key: tuple[str, str], message: str, *args, exc_info: bool = False) -> None:
    if key not in _reported:
        _reported.add(key)
        logger.warning(message, *args, exc_info=exc_info)


def _check_settings(format_weight, math_timeout, max_response_chars, verl_keywords) -> None:
    unknown = sorted(set(verl_keywords) - _VERL_KEYWORDS)
    if unknown:
        raise TypeError(f"compute_score got unknown keyword argument(s) {unknown} (check reward_kwargs)")
    if not 0.0 <= format_weight <= 1.0:
        raise ValueError(f"format_weight must be in [0, 1], got {format_weight!r}")
    if not math_timeout > 0:
        raise ValueError(f"math_timeout must be > 0 seconds, got {math_timeout!r}")
    if not max_response_chars > 0:
        raise ValueError(f"max_response_chars must be > 0, got {max_response_chars!r}")


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


@functools.lru_cache(maxsize=1 << 16)
def _symbolic_verdict(prediction: str, truth: str, timeout: float) -> bool:
    verdict = shared_pool().equivalent(prediction, truth, timeout)
    if verdict is None:
        raise _Unverified
    return verdict


def _match_math(response: str, truth: str, math_timeout: float) -> tuple[Match, bool]:
    """Last ``\\boxed{}`` vs the ground truth (``math_equivalence``); returns (match, not verified)."""
    prediction = last_boxed(response)
    if not prediction or len(prediction) > MAX_ANSWER_CHARS:
        return Match(0.0, ""), False
    verdict = quick_math_verdict(prediction, truth)
    unverified = verdict is None and (too_costly_for_sympy(prediction) or too_costly_for_sympy(truth))
    if verdict is None and not unverified:
        try:
            verdict = _symbolic_verdict(prediction, truth, math_timeout)
        except _Unverified:
            unverified = True
    return Match(float(bool(verdict)), canonical_math(prediction)), unverified


def _match(answer_type: str, response: str, truth: str, extra_info: Mapping, math_timeout: float):
    if answer_type == "math":
        return _match_math(response, truth, math_timeout)
    candidate = candidate_answer(response)
    if candidate is not None and len(candidate) > MAX_ANSWER_CHARS:
        candidate = None
    if answer_type == "choice":
        return match_choice(candidate, truth, _choices(extra_info)), False
    if answer_type == "yesno":
        return match_yesno(candidate, truth), False
    if answer_type == "number":
        return match_number(candidate, truth, _precision(extra_info)), False
    return match_text(candidate, truth), False


def _answer_type(data_source: str, truth: str, extra_info: Mapping) -> str:
    answer_type = extra_info.get("answer_type")
    if _is_missing(answer_type) or answer_type == "":
        return infer_answer_type(data_source, truth, _choices(extra_info))
    if answer_type not in ANSWER_TYPES:
        raise BadGroundTruth("extra_info.answer_type", f"{answer_type!r} is not one of {ANSWER_TYPES}")
    return answer_type


def _score(data_source, solution_str, ground_truth, extra_info, format_weight, math_timeout, max_chars) -> dict:
    result = dict.fromkeys(RESULT_KEYS, 0.0)
    result["pred"] = ""
    response = _usable_response(solution_str, max_chars)
    if response is None:
        result["rejected"] = 1.0
        return result
    result["format"] = format_reward(response)
    source = str(data_source)
    try:
        if not isinstance(ground_truth, (str, int, float)) or isinstance(ground_truth, bool):
            raise BadGroundTruth("ground_truth", f"expected a string, got {type(ground_truth).__name__}")
        truth = str(ground_truth).strip()
        if not truth or len(truth) > MAX_ANSWER_CHARS:
            raise BadGroundTruth("ground_truth", f"empty or longer than {MAX_ANSWER_CHARS} characters")
        if not (extra_info is None or isinstance(extra_info, Mapping)):
            raise BadGroundTruth("extra_info", f"expected a dict, got {type(extra_info).__name__}")
        info = extra_info or {}
        match, unverified = _match(_answer_type(source, truth, info), response, truth, info, math_timeout)
    except BadGroundTruth as error:
        _report_once((source, error.field), "vogue_reward: bad row in %s (scored acc 0): %s", source, error)
        result["bad_row"] = 1.0
        match, unverified = Match(0.0, ""), False
    result["acc"] = match.acc
    result["pred"] = match.pred[:MAX_PRED_CHARS]
    result["verify_failed"] = float(unverified)
    result["score"] = (1.0 - format_weight) * match.acc + format_weight * result["format"]
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
    """Reward of one response (keys and rules: module docstring and README "Rewards and answer types").

    Set ``format_weight``, ``math_timeout`` (seconds per symbolic check) and ``max_response_chars``
    through ``reward.custom_reward_function.reward_kwargs``.
    """
    _check_settings(format_weight, math_timeout, max_response_chars, verl_keywords)
    try:
        return _score(data_source, solution_str, ground_truth, extra_info, format_weight, math_timeout, max_response_chars)
    except WorkerUnavailable:
        raise
    except Exception as error:
        _report_once(("internal_error", type(error).__name__), "vogue_reward: matcher failed", exc_info=True)
        result = dict.fromkeys(RESULT_KEYS, 0.0)
        result.update(pred="", internal_error=1.0)
        return result


def compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos=None, **settings) -> list[dict]:
    """``compute_score`` over many responses, the symbolic checks spread over the worker processes
    (one per CPU). Same keyword settings as ``compute_score``; argument names follow verl's batch
    reward managers. Results keep the input order.

    Rows go to threads in contiguous chunks of ``BATCH_CHUNK`` so that the rollouts of one prompt
    (adjacent in verl's batches) are scored one after another and reuse each other's cached verdicts
    instead of racing to compute the same one."""
    count = len(solution_strs)
    extra_infos = [None] * count if extra_infos is None else extra_infos
    if not len(data_sources) == len(ground_truths) == len(extra_infos) == count:
        raise ValueError(
            f"batch lengths differ: {len(data_sources)} data_sources, {count} solution_strs, "
            f"{len(ground_truths)} ground_truths, {len(extra_infos)} extra_infos"
        )
    rows = list(zip(data_sources, solution_strs, ground_truths, extra_infos))
    chunks = [rows[start : start + BATCH_CHUNK] for start in range(0, count, BATCH_CHUNK)]
    with ThreadPoolExecutor(max_workers=shared_pool().size) as executor:
        scored = executor.map(lambda chunk: [compute_score(*row, **settings) for row in chunk], chunks)
        return [result for chunk in scored for result in chunk]
