"""recipe.vogue.evaluation.run without verl runs: shards, resume, settings, dump conversion, model paths and the
command each shard runs. The runner is replaced by one that answers like verl's validation dump
(``RayPPOTrainer._write_generations``: input, output, gts, score, step and every reward key), scored by
vogue_reward."""

import json
import os
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_prep.io import write_parquet_atomic
from data_prep.synthetic import make_rows
from recipe.vogue import evaluate as cli
from recipe.vogue.cpu.tiny_run import cpu_environment
from recipe.vogue.evaluation import run as ev
from recipe.vogue.evaluation.metrics import Generation
from vogue_reward import compute_score

GREEDY = ev.Pass("greedy", 1, 0.0, 1.0)
SAMPLED = ev.Pass("sampled", 3, 0.6, 0.95)


def benchmark(path: Path, rows: int, source: str = "synthetic_shapes") -> str:
    write_parquet_atomic([{**row, "data_source": source} for row in make_rows("val", rows, seed=0, size=16)], str(path))
    return str(path)


def setting(command: list[str], key: str) -> str:
    value = next(arg.split("=", 1)[1] for arg in command if arg.startswith(key + "="))
    return value.strip("'")


class FakeVerl:
    """Writes what a val-only verl run would dump; ``drop`` row ids get no response (verl's overlong filter)."""

    def __init__(self, drop=(), fail_on=None):
        self.commands, self.drop, self.fail_on = [], set(drop), fail_on

    def __call__(self, command, env, log_path):
        self.commands.append(command)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text("verl output\n")
        shard = setting(command, "data.val_files")
        if self.fail_on and self.fail_on in shard:
            raise ev.EvaluationError("verl failed")
        n = int(setting(command, "actor_rollout_ref.rollout.val_kwargs.n"))
        dump = Path(setting(command, "trainer.validation_data_dir"))
        dump.mkdir(parents=True)
        lines = []
        for row in pq.read_table(shard).to_pylist():
            if row["extra_info"]["index"] in self.drop:
                continue
            truth = row["reward_model"]["ground_truth"]
            for sample in range(n):
                answer = truth if (row["extra_info"]["index"] + sample) % 2 == 0 else "nothing"
                output = f"<think>t</think>\\boxed{{{answer}}}"
                reward = compute_score(row["data_source"], output, truth, row["extra_info"])
                lines.append({"input": "prompt", "output": output, "gts": truth, "score": reward["score"], "step": 0,
                              "reward": reward["score"], **reward})
        (dump / "0.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


@pytest.fixture
def files(tmp_path):
    return [benchmark(tmp_path / "shapes_a.parquet", 5), benchmark(tmp_path / "shapes_b.parquet", 2, source="other_shapes")]


def run(files, out, runner, passes=(GREEDY, SAMPLED), **kwargs):
    return ev.evaluate(str(kwargs.pop("model", files_model(out))), files, out, passes, shard_size=kwargs.pop("shard_size", 2),
                       cpu_env=cpu_environment(), runner=runner, **kwargs)


def files_model(out: Path) -> Path:
    model = out.parent / "hf_model"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text("{}")
    return model


def test_plan_shards_cuts_each_file_and_names_shards_after_it(files):
    shards = ev.plan_shards(files, 2)
    assert [(s.name, s.start, s.rows) for s in shards] == [
        ("shapes_a-0000", 0, 2), ("shapes_a-0001", 2, 2), ("shapes_a-0002", 4, 1), ("shapes_b-0000", 0, 2)]
    with pytest.raises(ev.EvaluationError, match="--shard-size"):
        ev.plan_shards(files, 0)


def test_two_files_with_one_stem_are_refused(tmp_path, files):
    other = tmp_path / "elsewhere"
    other.mkdir()
    with pytest.raises(ev.EvaluationError, match="two files are named 'shapes_a'"):
        ev.plan_shards([files[0], benchmark(other / "shapes_a.parquet", 1)], 2)


def test_rows_need_a_unique_index(tmp_path, files):
    ev.check_row_ids(files)
    clash = benchmark(tmp_path / "clash.parquet", 2)
    with pytest.raises(ev.EvaluationError, match=r"clash.parquet row 0: data_source 'synthetic_shapes' index 0 also appears in .*shapes_a.parquet row 0; "
                       r"evaluate such files separately"):
        ev.check_row_ids([files[0], clash])
    table = pq.read_table(files[1])
    infos = table.column("extra_info").to_pylist()
    infos[1]["index"] = None
    unnamed = tmp_path / "unnamed.parquet"
    pq.write_table(table.set_column(table.schema.get_field_index("extra_info"), "extra_info", pa.array(infos)), unnamed)
    with pytest.raises(ev.EvaluationError, match="unnamed.parquet row 1: no extra_info.index"):
        ev.check_row_ids([str(unnamed)])


def test_evaluation_converts_every_shard_and_writes_the_report(tmp_path, files, capsys):
    fake = FakeVerl()
    report = run(files, tmp_path / "out", fake)
    assert len(fake.commands) == 2 * 4 and report.is_file()
    greedy = [json.loads(line) for line in (tmp_path / "out/generations/greedy/shapes_a-0001.jsonl").read_text().splitlines()]
    assert [g["row_id"] for g in greedy] == ["2", "3"]
    for line in greedy:
        generation = Generation.from_dump(line)
        assert (generation.decoding, generation.data_source, generation.step) == ("greedy", "synthetic_shapes", None)
        assert generation.extra_info["index"] == int(generation.row_id) and generation.extra_info["split"] == "val"
    sampled = [json.loads(line) for line in (tmp_path / "out/generations/sampled/shapes_b-0000.jsonl").read_text().splitlines()]
    assert len(sampled) == 2 * SAMPLED.n and {(g["decoding"], g["data_source"]) for g in sampled} == {("sampled", "other_shapes")}
    text = report.read_text()
    assert "## pass@1 (greedy)" in text and "## pass@2 (sampled)" in text and "pass_at_k.png" in text
    output = capsys.readouterr().out
    assert re.search(r"\[eval\] sampled 3/4 shapes_a-0002: 1 rows, 3 responses, acc \d\.\d{3}, \d+ s", output)
    assert "[eval] greedy: 7/7 rows answered" in output


def test_a_rerun_skips_finished_shards_and_resumes_a_failed_one(tmp_path, files, capsys):
    out = tmp_path / "out"
    with pytest.raises(ev.EvaluationError, match="verl failed"):
        run(files, out, FakeVerl(fail_on="shapes_a-0001"))
    assert sorted(os.listdir(out / "generations/greedy")) == ["shapes_a-0000.jsonl"]
    capsys.readouterr()
    resumed = FakeVerl()
    run(files, out, resumed)
    assert [setting(c, "data.val_files").rsplit("/", 1)[1] for c in resumed.commands][:3] == [
        "shapes_a-0001.parquet", "shapes_a-0002.parquet", "shapes_b-0000.parquet"]
    assert len(resumed.commands) == 3 + 4
    assert "[eval] greedy 1/4 shapes_a-0000: done earlier, skipped" in capsys.readouterr().out
    again = FakeVerl()
    run(files, out, again)
    assert again.commands == []


def test_a_rerun_with_other_settings_is_refused_but_a_new_pass_is_added(tmp_path, files):
    out = tmp_path / "out"
    run(files, out, FakeVerl(), passes=(GREEDY,))
    with pytest.raises(ev.EvaluationError, match=r"settings.json was written with other settings \(shard_size\)"):
        run(files, out, FakeVerl(), passes=(GREEDY,), shard_size=3)
    with pytest.raises(ev.EvaluationError, match=r"other settings \(passes.greedy\)"):
        run(files, out, FakeVerl(), passes=(ev.Pass("greedy", 2, 0.0, 1.0),))
    added = FakeVerl()
    run(files, out, added, passes=(GREEDY, SAMPLED))
    assert len(added.commands) == 4
    assert set(json.loads((out / "settings.json").read_text())["passes"]) == {"greedy", "sampled"}


def test_rows_verl_drops_are_counted(tmp_path, files, capsys):
    run(files, tmp_path / "out", FakeVerl(drop={3}), passes=(GREEDY,))
    output = capsys.readouterr().out
    assert "shapes_a-0001: 2 rows, 1 responses" in output and "1 rows without a response (dropped by verl" in output
    assert "[eval] greedy: 6/7 rows answered" in output


def test_each_shard_runs_val_only_verl_with_its_pass_settings(tmp_path, files):
    fake = FakeVerl()
    run(files, tmp_path / "out", fake, passes=(SAMPLED,), overrides=["data.max_prompt_length=64"])
    command = fake.commands[0]
    assert command[1:3] == ["-m", "recipe.vogue.main_vogue"]
    for expected in ("+cpu=tiny", "vogue.enable=false", "trainer.val_only=true", "trainer.val_before_train=true",
                     "trainer.resume_mode=disable", "actor_rollout_ref.rollout.val_kwargs.n=3",
                     "actor_rollout_ref.rollout.val_kwargs.temperature=0.6", "actor_rollout_ref.rollout.val_kwargs.top_p=0.95",
                     "actor_rollout_ref.rollout.val_kwargs.do_sample=True"):
        assert expected in command
    assert command[-1] == "data.max_prompt_length=64"  # the user's overrides come last: they win
    assert setting(command, "data.val_batch_size") == "64"  # not verl's null: the whole shard in one batch
    shard = setting(command, "data.val_files")
    # cpu/tiny.yaml's train_batch_size 16: the training set verl builds is the shard repeated to >= 32 rows
    assert setting(command, "data.train_files") == "[" + ",".join([f"'{shard}'"] * 16) + "]"


def test_convert_dump_needs_vogue_rewards_row_identity(files):
    rows = ev.identities(files[0])
    with pytest.raises(ev.EvaluationError, match="no row_source/row_id: score with vogue_reward"):
        ev.convert_dump([{"input": "", "output": "", "score": 0, "acc": 0}], rows, "greedy", None)
    with pytest.raises(ev.EvaluationError, match=r"row \('synthetic_shapes', '9'\) is not in the shard"):
        ev.convert_dump([{"input": "", "output": "", "score": 0, "acc": 0, "row_source": "synthetic_shapes", "row_id": "9"}],
                        rows, "greedy", None)
    [line] = ev.convert_dump([{"input": "i", "output": "o", "score": 1.0, "acc": 1.0, "pred": "red", "format": 1.0,
                               "row_source": "synthetic_shapes", "row_id": "1"}], rows, "sampled", 30)
    assert (line["data_source"], line["row_id"], line["step"], line["decoding"], line["pred"]) == ("synthetic_shapes", "1", 30, "sampled", "red")
    assert line["extra_info"] == rows[1]["extra_info"]


def test_model_paths(tmp_path):
    out = tmp_path / "out"
    hf = tmp_path / "ckpt/global_step_7/actor/huggingface"
    hf.mkdir(parents=True)
    (hf / "config.json").write_text("{}")
    assert ev.resolve_model(str(hf), out, {}) == (str(hf.resolve()), 7)
    assert ev.resolve_model("Qwen/Qwen2.5-VL-7B-Instruct", out, {}) == ("Qwen/Qwen2.5-VL-7B-Instruct", None)
    with pytest.raises(ev.EvaluationError, match="no such directory"):
        ev.resolve_model(str(tmp_path / "missing"), out, {})
    with pytest.raises(ev.EvaluationError, match="neither a Hugging Face model directory"):
        ev.resolve_model(str(tmp_path / "ckpt/global_step_7"), out, {})
    (hf.parent / "model_world_size_1_rank_0.pt").write_bytes(b"")
    merges = []

    def merger(command, env, log_path):
        merges.append(command)
        target = Path(command[command.index("--target_dir") + 1])
        target.mkdir(parents=True)
        (target / "config.json").write_text("{}")

    for _ in range(2):  # the second call reuses the merged model
        assert ev.resolve_model(str(tmp_path / "ckpt/global_step_7"), out, {}, merger) == (str(out / "model"), 7)
    assert len(merges) == 1 and merges[0][2:5] == ["verl.model_merger", "merge", "--backend"]
    assert merges[0][merges[0].index("--local_dir") + 1] == str(hf.parent)


def test_command_line_errors(tmp_path, capsys):
    for argv, message in (
        (["--model", "m", "--out", "o", "--data", "a.parquet", "trainer.x=1"], "looks like a hydra override; put overrides after --"),
        (["--model", "m", "--out", "o", "--data", "a.parquet", "--passes", "beam"], "--passes 'beam'"),
        (["--model", "m", "--out", "o", "--data", "a.parquet", "--temperature", "0"], "--temperature > 0"),
    ):
        with pytest.raises(SystemExit):
            cli.main(argv)
        assert message in capsys.readouterr().err
    assert cli.main(["--model", "m", "--out", str(tmp_path), "--data", str(tmp_path / "none.parquet")]) == 2
    assert "none.parquet: no such file" in capsys.readouterr().err


def test_a_bad_model_leaves_no_settings_so_the_corrected_rerun_goes_ahead(tmp_path, files, capsys):
    out = tmp_path / "out"
    argv = ["--data", *map(str, files), "--out", str(out), "--cpu"]
    assert cli.main(["--model", str(tmp_path / "no_such_model"), *argv]) == 2
    assert "--model" in capsys.readouterr().err and not (out / "settings.json").exists()
    run(files, out, FakeVerl())  # the corrected command into the same --out
    assert (out / "settings.json").exists()


def test_a_corrupt_data_file_is_named(tmp_path, capsys):
    corrupt = tmp_path / "bench.parquet"
    corrupt.write_bytes(b"not a parquet file")
    assert cli.main(["--model", "m", "--out", str(tmp_path / "out"), "--data", str(corrupt), "--cpu"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: --data {corrupt}: not a readable parquet file (") and "\n" not in error
    assert not (tmp_path / "out").exists()
