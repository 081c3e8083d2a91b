"""Optional LLM judge: the paper's protocol (METHOD.md §8, a Qwen2.5-72B judge) instead of vogue_reward's
rule-based verifiers, which stay the default. A client for any OpenAI-compatible chat-completions
server (e.g. ``vllm serve Qwen/Qwen2.5-72B-Instruct``); standard library only.

Each generation is judged by one request: ``JUDGE_PROMPT`` as the single user message, temperature 0,
at most 8 new tokens. The question is the row's ``extra_info.question`` (the text shown to the model)
or else the dump's ``input``; the reference is ``gts``; the response is the text after the last
``</think>`` (all of it when there is none), cut to its last ``MAX_RESPONSE_CHARS`` characters.

Verdict: the reply, lower-cased with its punctuation removed, must be or start with exactly "correct"
(acc 1) or "incorrect" (acc 0) and must not hold the other word; anything else — a negation before the
word ("not correct"), both words ("Incorrect. The correct answer is 5"), no verdict — is "unparsed":
counted in the report and scored 0, never 1. Judged generations keep their ``pred`` (maj@k still votes on
the extracted answer) and get ``scorer = "judge:<model>"``.

Each request has a wall-clock deadline of ``timeout`` seconds (a server that drips bytes cannot hold it
longer) and is retried ``retries`` times (waiting ``backoff``·2^i seconds) on every transport error
(connection, time-out, a truncated or malformed HTTP exchange) and HTTP 429/5xx; other HTTP errors and
replies that are not chat completions raise ``JudgeError`` at once. With a ``verdicts_path``, every verdict
is appended there as it arrives, keyed by the judge model and the prompt, so a rerun after a failure asks
only for the missing ones.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from recipe.vogue.evaluation.metrics import Generation

__all__ = ["JUDGE_PROMPT", "MAX_RESPONSE_CHARS", "JudgeError", "JudgeClient", "judge_prompt", "parse_verdict",
           "verdict_key", "load_verdicts", "judge_generations"]

MAX_RESPONSE_CHARS = 4000
JUDGE_PROMPT = """You are grading a model's answer to a question about an image. You cannot see the image. \
Decide only whether the final answer in the response means the same as the reference answer (the same \
value, option or statement; ignore formatting, the way units are written and the reasoning).

Question:
{question}

Reference answer: {reference}

Response:
{response}

Reply with one word: correct or incorrect."""
_VERDICTS = {"correct": True, "incorrect": False}
_RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})


class JudgeError(RuntimeError):
    """The judge server could not be used (after the allowed retries)."""


def judge_prompt(generation: Generation) -> str:
    """The user message that asks the judge about ``generation`` (module docstring)."""
    question = generation.extra_info.get("question") or generation.input
    response = generation.output.rsplit("</think>", 1)[-1].strip()[-MAX_RESPONSE_CHARS:]
    return JUDGE_PROMPT.format(question=question, reference=generation.gts, response=response)


def parse_verdict(reply: str) -> bool | None:
    """True / False when the reply is or starts with "correct" / "incorrect" (case and punctuation aside) and
    holds only that one of the two words; None ("unparsed") otherwise."""
    words = re.sub(r"[^\w\s]", " ", reply.lower()).split()
    if not words or words[0] not in _VERDICTS or set(_VERDICTS) <= set(words):
        return None
    return _VERDICTS[words[0]]


@dataclasses.dataclass(frozen=True)
class JudgeClient:
    """``url`` is the server's base (``http://host:8000/v1``) or its full ``…/chat/completions`` address."""

    url: str
    model: str
    timeout: float = 60.0
    retries: int = 2
    backoff: float = 1.0
    api_key: str | None = None

    @property
    def endpoint(self) -> str:
        base = self.url.rstrip("/")
        return base if base.endswith("/chat/completions") else base + "/chat/completions"

    def complete(self, prompt: str) -> str:
        """The judge's reply to one user message."""
        body = json.dumps({
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0,
            "max_tokens": 8,
        }).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.endpoint, data=body, headers=headers, method="POST")
            try:
                return _reply_text(_post_within(request, self.timeout))
            except urllib.error.HTTPError as error:
                if error.code not in _RETRIED_STATUS:
                    raise JudgeError(f"{self.endpoint}: HTTP {error.code} {error.reason}") from error
                failure = f"HTTP {error.code}"
            except (OSError, http.client.HTTPException) as error:  # URLError, time-outs, IncompleteRead, …
                failure = f"{type(error).__name__}: {getattr(error, 'reason', error)}"
            if attempt < self.retries:
                time.sleep(self.backoff * 2**attempt)
        raise JudgeError(f"{self.endpoint}: {failure} after {self.retries + 1} attempts")


def _post_within(request: urllib.request.Request, seconds: float) -> bytes:
    """The body of the reply to ``request``, or TimeoutError once ``seconds`` of wall-clock time have passed
    (urllib's own timeout bounds each socket read, not the exchange). The request runs in a daemon thread that
    is abandoned on time-out; its socket closes at the next read past its own timeout."""
    outcome: dict = {}

    def exchange():
        try:
            with urllib.request.urlopen(request, timeout=seconds) as response:
                outcome["body"] = response.read()
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error

    worker = threading.Thread(target=exchange, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TimeoutError(f"no complete reply within {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["body"]


def _reply_text(raw: bytes) -> str:
    try:
        content = json.loads(raw)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise JudgeError(f"not a chat-completions reply: {raw[:200]!r}") from error
    if not isinstance(content, str):
        raise JudgeError(f"reply content is not text: {content!r}")
    return content


def verdict_key(model: str, prompt: str) -> str:
    return hashlib.sha256(f"{model}\0{prompt}".encode()).hexdigest()


def load_verdicts(path: Path | str | None) -> dict[str, bool | None]:
    """key → verdict of the verdicts persisted at ``path`` (empty when there is none); a torn last line (a run
    killed mid-write) is ignored."""
    if path is None or not Path(path).exists():
        return {}
    verdicts = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        verdicts[entry["key"]] = entry["verdict"]
    return verdicts


def judge_generations(generations: Sequence[Generation], client: JudgeClient, workers: int = 4,
                      verdicts_path: Path | str | None = None) -> tuple[list[Generation], int]:
    """(the generations re-scored by the judge, in order; how many replies had no verdict). Each distinct
    prompt is asked once; with ``verdicts_path`` the verdicts already there are reused and new ones appended
    as they arrive (a failed request loses none of the others)."""
    asked = [judge_prompt(generation) for generation in generations]
    keys = [verdict_key(client.model, prompt) for prompt in asked]
    verdicts = load_verdicts(verdicts_path)
    prompts = {key: prompt for key, prompt in zip(keys, asked) if key not in verdicts}
    lock = threading.Lock()

    def ask(key: str) -> None:
        reply = client.complete(prompts[key])
        with lock:
            verdicts[key] = parse_verdict(reply)
            if verdicts_path is not None:
                with open(verdicts_path, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps({"key": key, "verdict": verdicts[key], "reply": reply}) + "\n")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(ask, key) for key in prompts]:
            future.result()  # the first failure raises once every request has finished
    judged = [
        dataclasses.replace(generation, acc=float(bool(verdicts[key])), scorer=f"judge:{client.model}")
        for generation, key in zip(generations, keys)
    ]
    return judged, sum(verdicts[key] is None for key in keys)
