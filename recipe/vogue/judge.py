"""Optional LLM judge: the paper's protocol (METHOD.md §8, a Qwen2.5-72B judge) instead of vogue_reward's
rule-based verifiers, which stay the default. A client for any OpenAI-compatible chat-completions
server (e.g. ``vllm serve Qwen/Qwen2.5-72B-Instruct``); standard library only.

Each generation is judged by one request: ``JUDGE_PROMPT`` as the single user message, temperature 0,
at most 8 new tokens. The question is the row's ``extra_info.question`` (the text shown to the model)
or else the dump's ``input``; the reference is ``gts``; the response is the text after the last
``</think>`` (all of it when there is none), cut to its last ``MAX_RESPONSE_CHARS`` characters.

Answer extraction: the LAST whole word "correct" or "incorrect" in the reply (case-insensitive)
decides: correct → acc 1, incorrect → acc 0. A reply with neither counts acc 0 and is counted as
unparsed. Judged generations keep their ``pred`` (maj@k still votes on the extracted answer) and get
``scorer = "judge:<model>"``.

Requests time out after ``timeout`` seconds and are retried ``retries`` times (waiting ``backoff``·2^i
seconds) on connection errors, time-outs and HTTP 429/5xx; other HTTP errors and malformed replies
raise ``JudgeError`` at once.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from recipe.vogue.evaluation import Generation

__all__ = ["JUDGE_PROMPT", "MAX_RESPONSE_CHARS", "JudgeError", "JudgeClient", "judge_prompt", "parse_verdict", "judge_generations"]

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
_VERDICT = re.compile(r"\b(correct|incorrect)\b", re.IGNORECASE)
_RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})


class JudgeError(RuntimeError):
    """The judge server could not be used (after the allowed retries)."""


def judge_prompt(generation: Generation) -> str:
    """The user message that asks the judge about ``generation`` (module docstring)."""
    question = generation.extra_info.get("question") or generation.input
    response = generation.output.rsplit("</think>", 1)[-1].strip()[-MAX_RESPONSE_CHARS:]
    return JUDGE_PROMPT.format(question=question, reference=generation.gts, response=response)


def parse_verdict(reply: str) -> bool | None:
    """True / False from the reply's last "correct" / "incorrect"; None when it has neither."""
    verdicts = _VERDICT.findall(reply)
    return None if not verdicts else verdicts[-1].lower() == "correct"


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
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return _reply_text(response.read())
            except urllib.error.HTTPError as error:
                if error.code not in _RETRIED_STATUS:
                    raise JudgeError(f"{self.endpoint}: HTTP {error.code} {error.reason}") from error
                failure = f"HTTP {error.code}"
            except (urllib.error.URLError, socket.timeout, ConnectionError) as error:
                failure = str(getattr(error, "reason", error))
            if attempt < self.retries:
                time.sleep(self.backoff * 2**attempt)
        raise JudgeError(f"{self.endpoint}: {failure} after {self.retries + 1} attempts")


def _reply_text(raw: bytes) -> str:
    try:
        content = json.loads(raw)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise JudgeError(f"not a chat-completions reply: {raw[:200]!r}") from error
    if not isinstance(content, str):
        raise JudgeError(f"reply content is not text: {content!r}")
    return content


def judge_generations(generations: Sequence[Generation], client: JudgeClient, workers: int = 4) -> tuple[list[Generation], int]:
    """(the generations re-scored by the judge, in order; how many replies had no verdict)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        verdicts = list(pool.map(lambda generation: parse_verdict(client.complete(judge_prompt(generation))), generations))
    judged = [
        dataclasses.replace(generation, acc=float(bool(verdict)), scorer=f"judge:{client.model}")
        for generation, verdict in zip(generations, verdicts)
    ]
    return judged, sum(verdict is None for verdict in verdicts)
