"""Opening sources: split detection in hub-download folders, and clear errors for what cannot be opened."""

import json

import datasets
import pytest
from data_prep_fixtures import STRING, dataset_from

from data_prep.sources import SourceError, open_source, split_names

COLUMNS = {"question": STRING, "answer": STRING}


def _records(source):
    return list(source.records())


@pytest.mark.parametrize(
    "path, names",
    [
        ("data/testmini-00000-of-00001.parquet", {"data", "testmini"}),
        ("data/non_image-00000-of-00001.parquet", {"data", "non_image"}),
        ("Art/validation-00000-of-00001.parquet", {"Art", "validation"}),
        ("test.jsonl", {"test"}),
        ("data/train/part-0.parquet", {"data", "train", "part"}),
        ("testmini_text_only.parquet", {"testmini_text_only"}),
    ],
)
def test_split_names(path, names):
    assert split_names(path) == names


def test_hub_folder_picks_only_the_split_and_reads_all_its_shards(tmp_path):
    for shard in range(2):
        dataset_from(COLUMNS, [{"question": f"t{shard}", "answer": "1"}]).to_parquet(
            str(tmp_path / "data" / f"test-0000{shard}-of-00002.parquet"))
    dataset_from(COLUMNS, [{"question": "mini", "answer": "1"}]).to_parquet(str(tmp_path / "data" / "testmini-0.parquet"))
    source = open_source(str(tmp_path), "test")
    assert source.num_rows == 2 and [r["question"] for r in _records(source)] == ["t0", "t1"]
    assert [r["question"] for r in _records(open_source(str(tmp_path), "testmini"))] == ["mini"]


def test_split_as_folder_and_json_shards(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "a.jsonl").write_text('{"question": "q1", "answer": "1"}\n\n{"question": "q2", "answer": "2"}\n')
    (tmp_path / "train" / "b.json").write_text(json.dumps([{"question": "q3", "answer": "3"}]))
    source = open_source(str(tmp_path), "train")
    assert [r["question"] for r in _records(source)] == ["q1", "q2", "q3"]
    assert source.columns == ["question", "answer"]


def test_missing_split_lists_what_the_folder_has(tmp_path):
    dataset_from(COLUMNS, [{"question": "q", "answer": "1"}]).to_parquet(str(tmp_path / "data" / "test-0.parquet"))
    with pytest.raises(SourceError, match=r"no data file for split 'validation'.*'test'"):
        open_source(str(tmp_path), "validation")


def test_save_to_disk_dataset_dict_needs_an_existing_split(tmp_path):
    datasets.DatasetDict({"test": dataset_from(COLUMNS, [{"question": "q", "answer": "1"}])}).save_to_disk(str(tmp_path))
    assert open_source(str(tmp_path), "test").num_rows == 1
    with pytest.raises(SourceError, match=r"no split 'train' \(splits: \['test'\]\)"):
        open_source(str(tmp_path), "train")


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("rows.jsonl", '{"question": "q"}\nnot json\n', "line 2: not JSON"),
        ("rows.json", '{"question": "q"}', "expected a list of JSON objects"),
        ("rows.csv", "question\nq\n", "expected a .parquet, .json or .jsonl file"),
    ],
)
def test_unreadable_files(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(SourceError, match=message):
        open_source(str(tmp_path / name), "test")


def test_shards_with_different_columns_are_refused(tmp_path):
    dataset_from(COLUMNS, [{"question": "q", "answer": "1"}]).to_parquet(str(tmp_path / "test-0.parquet"))
    dataset_from({"question": STRING}, [{"question": "q"}]).to_parquet(str(tmp_path / "test-1.parquet"))
    with pytest.raises(SourceError, match="has columns"):
        open_source(str(tmp_path), "test")


def test_folder_without_data_and_missing_paths(tmp_path):
    with pytest.raises(SourceError, match="no parquet/json/jsonl files"):
        open_source(str(tmp_path), "test")
    with pytest.raises(SourceError, match="no such file or folder"):
        open_source(str(tmp_path / "absent.parquet"), "test")


def test_hub_id_offline_explains_how_to_download():
    with pytest.raises(SourceError, match=r"not a local path.*hf download AI4Math/MathVista --repo-type dataset"):
        open_source("AI4Math/MathVista", "testmini")
