"""Small evaluation dumps and file-logger logs for two runs, built in code (seeded), the golden report, and
a loopback chat-completions server standing in for an LLM judge.

``python tests/evaluation/evaluation_fixtures.py`` rewrites the golden files in ``golden/`` after an
intended change of the report's format; the test compares against them byte for byte.
"""

import json
import random
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"
SAMPLES = 4
BENCHMARK_ROWS = {  # data_source → list of (ground truth, extra_info)
    "mathverse": [
        ("3", {"problem_version": version, "problem_index": str(problem)})
        for problem in range(2)
        for version in ("Text Dominant", "Text Lite", "Vision Intensive", "Vision Dominant", "Vision Only")
    ],
    "mathvista": [
        ("A", {"task": "geometry problem solving", "question_type": "multi_choice"}),
        ("12", {"task": "geometry problem solving", "question_type": "free_form"}),
        ("B", {"task": "figure question answering", "question_type": "multi_choice"}),
        ("0.5", {"task": "math word problem", "question_type": "free_form"}),
    ],
    "wemath": [
        ("A", {"ID": group, "key": key})
        for group, keys in (("g1", ("2steps_1", "2steps_2", "2steps_multi")),
                            ("g2", ("2steps_1", "2steps_2", "2steps_multi")),
                            ("g3", ("3steps_1", "3steps_2", "3steps_3", "3steps_multi")))
        for key in keys
    ],
    "hallusionbench": [
        ("yes" if (figure + question) % 2 else "no",
         {"category": category, "subcategory": "chart", "set_id": "0", "figure_id": str(figure), "question_id": str(question)})
        for category, figures in (("VD", (0, 1)), ("VS", (1, 2)))
        for figure in figures
        for question in (0, 1)
    ],
    "chartqa": [(answer, {}) for answer in ("12", "Asia", "1234", "7")],
    "logicvista": [(answer, {}) for answer in ("A", "B, C", "D")],
}
RUNS = {"GRPO": (0.45, 11), "VOGUE": (0.6, 12)}  # label → (probability of a right answer, seed)


SPLITS = {"mathverse": "testmini", "mathvista": "testmini", "wemath": "testmini", "hallusionbench": "image",
          "chartqa": "test", "logicvista": "test"}
# evaluate's settings.json passes (only the VOGUE fixture run has one)
PASSES = {"greedy": {"name": "greedy", "n": 1, "temperature": 0.0, "top_p": 1.0},
          "sampled": {"name": "sampled", "n": SAMPLES, "temperature": 0.6, "top_p": 0.95}}


def generations(probability: float, seed: int) -> list[dict]:
    """One greedy and SAMPLES sampled dump lines per row; a wrong answer is "wrong" or none ("")."""
    rng = random.Random(seed)
    lines = []
    for source, rows in BENCHMARK_ROWS.items():
        for index, (truth, extra_info) in enumerate(rows):
            for decoding, count in (("greedy", 1), ("sampled", SAMPLES)):
                for _ in range(count):
                    right = rng.random() < probability
                    pred = truth if right else rng.choice(["wrong", "wrong", "other", ""])
                    lines.append({
                        "input": f"user: question {index} of {source}", "output": f"<think>…</think> \\boxed{{{pred}}}",
                        "gts": truth, "score": 0.9 * right + 0.1, "step": 0, "acc": float(right), "format": 1.0,
                        "pred": pred, "data_source": source, "row_id": f"test/{index}", "decoding": decoding,
                        "scorer": "rule", "extra_info": {**extra_info, "split": SPLITS[source]},
                    })
    return lines


def log_lines(label: str, steps: int = 6) -> list[dict]:
    """A file-logger log: training metrics every step, validation at steps 0 and steps − 1."""
    lines = []
    vogue = label == "VOGUE"
    for step in range(steps):
        data = {"critic/score/mean": 0.3 + (0.06 if vogue else 0.05) * step, "actor/entropy": 0.9 - (0.05 if vogue else 0.1) * step,
                "response_length/mean": 200.0 - 5 * step}
        if vogue:
            data |= {"vogue/u_per_token_mean": 0.05 - 0.005 * step, "vogue/noisy_frac": 1 - step / steps,
                     "vogue/g_out_mean": 0.01 + 0.001 * step, "vogue/g_per_mean": 0.002 * step, "vogue/entropy_raw_mean": 0.8 - 0.03 * step,
                     "vogue/entropy_noisy_mean": 0.85 - 0.02 * step, "timing_s/step": 3.0, "some/string": "text"}
        if step in (0, steps - 1):
            data |= {"val-core/mathverse/acc/mean@4": 0.4 + (0.03 if vogue else 0.02) * step, "val-core/mathverse/acc/best@4/std": 0.1}
        lines.append({"step": step, "data": data})
    return lines


def write_jsonl(path: Path, lines: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def write_runs(root: Path) -> dict[str, Path]:
    """Each run as a directory: eval/greedy.jsonl + eval/sampled.jsonl dumps and a train.jsonl log."""
    paths = {}
    for label, (probability, seed) in RUNS.items():
        run = root / label.lower()
        lines = generations(probability, seed)
        write_jsonl(run / "eval" / "greedy.jsonl", [line for line in lines if line["decoding"] == "greedy"])
        write_jsonl(run / "eval" / "sampled.jsonl", [line for line in lines if line["decoding"] == "sampled"])
        write_jsonl(run / "train.jsonl", log_lines(label))
        if label == "VOGUE":
            (run / "settings.json").write_text(json.dumps({"passes": PASSES}))
        paths[label] = run
    return paths


class JudgeServer:
    """Replies "correct" when the prompt's reference answer occurs in its response section, else
    "incorrect"; ``script`` holds (status, body) overrides answered first, one per request."""

    def __init__(self, script=(), delay=0.0):
        self.requests, self.script, self.delay = [], list(script), delay
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append((self.path, dict(self.headers), body))
                time.sleep(server.delay)
                status, reply = server.script.pop(0) if server.script else (200, None)
                if reply is None:
                    prompt = body["messages"][0]["content"]
                    reference = prompt.split("Reference answer: ")[1].split("\n")[0]
                    response = prompt.split("Response:\n")[1].rsplit("\n\nReply with", 1)[0]
                    verdict = "Correct." if reference in response else "Incorrect."
                    reply = json.dumps({"choices": [{"message": {"role": "assistant", "content": verdict}}]})
                payload = reply.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def report_arguments(paths: dict[str, Path], out: Path) -> list[str]:
    return [*(f"{label}={path}" for label, path in paths.items()), "--out", str(out), "--reference"]


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from recipe.vogue.evaluation.report import main

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report"
        main(report_arguments(write_runs(Path(tmp)), out))
        GOLDEN.mkdir(exist_ok=True)
        for name in ("report.md", "report.csv"):
            (GOLDEN / name).write_bytes((out / name).read_bytes())
