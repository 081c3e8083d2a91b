"""The judge client against a loopback server that speaks the chat-completions protocol (no network)."""

import json
import time

import pytest
from evaluation_fixtures import JudgeServer

from recipe.vogue.evaluation import Generation
from recipe.vogue.judge import MAX_RESPONSE_CHARS, JudgeClient, JudgeError, judge_generations, judge_prompt, parse_verdict


def generation(output, gts, question="How many?", **kwargs):
    return Generation("chartqa", "1", acc=0.0, score=0.0, input="<prompt>", output=output, gts=gts,
                      pred="p", extra_info={"question": question}, **kwargs)


def test_verdict_is_the_last_correct_or_incorrect_word():
    assert parse_verdict("correct") is True
    assert parse_verdict("INCORRECT.") is False
    assert parse_verdict("Not correct... final: incorrect") is False
    assert parse_verdict("It is incorrect? No, correct") is True
    assert parse_verdict("uncorrected answer") is None
    assert parse_verdict("") is None


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
    with JudgeServer(delay=1.0) as server:
        start = time.monotonic()
        with pytest.raises(JudgeError, match="after 2 attempts"):
            JudgeClient(server.url, "m", timeout=0.2, retries=1, backoff=0.0).complete("q")
        assert time.monotonic() - start < 1.0


def test_unreachable_server_is_an_error():
    with JudgeServer() as server:
        url = server.url
    with pytest.raises(JudgeError, match="after 1 attempts"):
        JudgeClient(url, "m", timeout=1, retries=0).complete("q")
