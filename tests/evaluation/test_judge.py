"""The judge client against a loopback server that speaks the chat-completions protocol (no network)."""

import json
import re
import socket
import threading
import time

import pytest
from evaluation_fixtures import JudgeServer

from recipe.vogue.evaluation.metrics import Generation
from recipe.vogue.evaluation.judge import MAX_RESPONSE_CHARS, JudgeClient, JudgeError, judge_generations, judge_prompt, parse_verdict


def generation(output, gts, question="How many?", **kwargs):
    return Generation("chartqa", "1", acc=0.0, score=0.0, input="<prompt>", output=output, gts=gts,
                      pred="p", extra_info={"question": question}, **kwargs)


@pytest.mark.parametrize("reply, verdict", [
    ("correct", True), ("Correct.", True), ("  CORRECT!", True), ("Correct — it matches the reference", True),
    ("INCORRECT.", False), ("incorrect", False), ("Incorrect: the response says 5", False),
    # unparsed: a negation before the word, both words, or anything else
    ("not correct", None), ("Not correct... final: incorrect", None), ("Incorrect. The correct answer is 5", None),
    ("The correct answer is 5, so: incorrect", None), ("It is incorrect? No, correct", None), ("Correct or incorrect", None),
    ("uncorrected answer", None), ("The answer is correct", None), ("I cannot tell.", None), ("", None),
])
def test_the_verdict_is_the_first_word_alone(reply, verdict):
    assert parse_verdict(reply) is verdict


def test_prompt_uses_the_question_the_reference_and_the_answer_after_thinking():
    prompt = judge_prompt(generation("<think>maybe 3</think> The answer is \\boxed{4}.", "4"))
    assert "Question:\nHow many?\n" in prompt and "Reference answer: 4\n" in prompt
    assert "Response:\nThe answer is \\boxed{4}.\n" in prompt and "maybe 3" not in prompt
    assert "<prompt>" in judge_prompt(generation("x", "4", question=None))
    assert "x" * MAX_RESPONSE_CHARS + "\n" in judge_prompt(generation("y" + "x" * (MAX_RESPONSE_CHARS + 5), "4"))


def test_judge_rescoring_over_the_protocol():
    with JudgeServer() as server:
        client = JudgeClient(server.url, "judge-model", timeout=5, api_key="secret")
        judged, unparsed = judge_generations(
            [generation("\\boxed{4}", "4"), generation("\\boxed{5}", "4"), generation("\\boxed{7}", "7")], client, workers=2
        )
    assert [g.acc for g in judged] == [1.0, 0.0, 1.0] and unparsed == 0
    assert {g.scorer for g in judged} == {"judge:judge-model"} and judged[0].pred == "p"
    path, headers, body = server.requests[0]
    assert path == "/v1/chat/completions" and headers["Authorization"] == "Bearer secret"
    assert body["model"] == "judge-model" and body["temperature"] == 0 and body["max_tokens"] == 8


def test_unparsed_replies_count_as_wrong():
    reply = json.dumps({"choices": [{"message": {"content": "I cannot tell."}}]})
    with JudgeServer(script=[(200, reply)]) as server:
        judged, unparsed = judge_generations([generation("\\boxed{4}", "4")], JudgeClient(server.url, "m"), workers=1)
    assert judged[0].acc == 0.0 and unparsed == 1


def test_transient_errors_are_retried_then_give_up():
    with JudgeServer(script=[(503, "{}"), (429, "{}")]) as server:
        client = JudgeClient(server.url + "/chat/completions", "m", retries=2, backoff=0.0)
        assert parse_verdict(client.complete("Reference answer: 1\nResponse:\n1\n\nReply with")) is True
        assert len(server.requests) == 3
    with JudgeServer(script=[(500, "{}")] * 3) as server:
        with pytest.raises(JudgeError, match="HTTP 500 after 2 attempts"):
            JudgeClient(server.url, "m", retries=1, backoff=0.0).complete("q")


def test_client_errors_and_malformed_replies_fail_at_once():
    with JudgeServer(script=[(400, "{}")]) as server:
        with pytest.raises(JudgeError, match="HTTP 400"):
            JudgeClient(server.url, "m", retries=3, backoff=0.0).complete("q")
        assert len(server.requests) == 1
    with JudgeServer(script=[(200, '{"choices": []}')]) as server:
        with pytest.raises(JudgeError, match="not a chat-completions reply"):
            JudgeClient(server.url, "m").complete("q")


def test_time_outs_are_bounded():
    with JudgeServer(delay=3.0) as server:  # two attempts that waited for the reply would take 6 s
        start = time.monotonic()
        with pytest.raises(JudgeError, match="after 2 attempts"):
            JudgeClient(server.url, "m", timeout=0.2, retries=1, backoff=0.0).complete("q")
        assert time.monotonic() - start < 2.0


def test_unreachable_server_is_an_error():
    with JudgeServer() as server:
        url = server.url
    with pytest.raises(JudgeError, match="after 1 attempts"):
        JudgeClient(url, "m", timeout=1, retries=0).complete("q")


class RawServer:
    """A loopback HTTP server that answers every request with ``respond(connection)`` (raw bytes)."""

    def __init__(self, respond):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url, self.respond, self.requests = f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1", respond, 0

    def serve(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.requests += 1
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection):
        with connection:
            read_request(connection)
            try:
                self.respond(connection)
            except OSError:
                pass

    def __enter__(self):
        threading.Thread(target=self.serve, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.listener.close()


def read_request(connection):
    """Read the whole request (headers, then Content-Length bytes of body): closing a socket with unread bytes
    sends a reset, and the client would see ConnectionResetError instead of the reply under test."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"content-length:\s*(\d+)", head, re.IGNORECASE).group(1))
    while len(body) < length:
        body += connection.recv(65536)


def drip(connection):
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n")
    for _ in range(100):  # one byte every 0.1 s: each socket read succeeds, the reply never completes in time
        connection.sendall(b" ")
        time.sleep(0.1)


def truncated(connection):
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"cho")


def test_a_dripping_server_cannot_hold_a_request_past_its_deadline():
    with RawServer(drip) as server:
        start = time.monotonic()
        with pytest.raises(JudgeError, match="TimeoutError: no complete reply within 0.5 s after 2 attempts"):
            JudgeClient(server.url, "m", timeout=0.5, retries=1, backoff=0.0).complete("q")
        assert time.monotonic() - start < 5.0 and server.requests == 2  # a drip lasts 10 s per attempt


def test_a_truncated_reply_is_a_retried_judge_error():
    with RawServer(truncated) as server:
        with pytest.raises(JudgeError, match="IncompleteRead.*after 3 attempts"):
            JudgeClient(server.url, "m", timeout=5, retries=2, backoff=0.0).complete("q")
        assert server.requests == 3


def test_verdicts_persist_as_they_arrive_and_a_rerun_asks_only_for_the_missing(tmp_path):
    generations = [generation(f"\\boxed{{{answer}}}", "4") for answer in (4, 5, 4, 6)]  # rows 0 and 2 share a prompt
    verdicts = tmp_path / "verdicts.jsonl"
    with JudgeServer(script=[(200, None), (200, None), (400, "{}")]) as server:  # the third prompt fails for good
        with pytest.raises(JudgeError, match="HTTP 400"):
            judge_generations(generations, JudgeClient(server.url, "m", retries=0), workers=1, verdicts_path=verdicts)
    assert len(verdicts.read_text().splitlines()) == 2  # the two answered before the failure are kept
    with JudgeServer() as server:
        judged, unparsed = judge_generations(generations, JudgeClient(server.url, "m"), workers=2, verdicts_path=verdicts)
        assert len(server.requests) == 1  # only the missing prompt
    assert [g.acc for g in judged] == [1.0, 0.0, 1.0, 0.0] and unparsed == 0
    assert len(verdicts.read_text().splitlines()) == 3
