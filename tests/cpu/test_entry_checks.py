"""main_vogue's checks before Ray starts: data files and, for a local model directory, an image processor."""

import pytest

from recipe.vogue.main_vogue import check_before_ray


@pytest.fixture
def configured(compose_vogue, tmp_path, tiny_model_dir):
    train, val = tmp_path / "train.parquet", tmp_path / "val.parquet"
    train.write_bytes(b"x")
    val.write_bytes(b"x")
    return lambda *overrides: compose_vogue([
        f"data.train_files={train}", f"data.val_files=[{val},{val}]", f"actor_rollout_ref.model.path={tiny_model_dir}",
        *overrides,
    ])


@pytest.fixture(scope="session")
def compose_vogue():
    from pathlib import Path

    from hydra import compose, initialize_config_dir

    config_dir = Path(__file__).resolve().parents[2] / "recipe" / "vogue" / "config"

    def _compose(overrides):
        with initialize_config_dir(config_dir=str(config_dir), version_base=None):
            return compose(config_name="vogue_trainer", overrides=list(overrides))

    return _compose


def test_good_inputs_pass(configured):
    check_before_ray(configured())
    check_before_ray(configured("data.train_files=hdfs://cluster/train.parquet"))  # remote: left to verl


@pytest.mark.parametrize("override, message", [
    ("data.train_files=null", "data.train_files is not set"),
    ("data.val_files=[]", "data.val_files is not set"),
    ("data.train_files=/nonexistent/train.parquet", "data.train_files: no such file '/nonexistent/train.parquet'"),
    ("data.val_files=[/no/a.parquet,/no/b.parquet]", r"data.val_files: no such file '/no/a.parquet' \(and 1 more\)"),
    ("vogue.enable='false'", "vogue.enable must be true or false"),
])
def test_bad_inputs_are_named_before_ray(configured, override, message):
    with pytest.raises(ValueError, match=message):
        check_before_ray(configured(override))


def test_a_text_only_model_is_refused_before_ray(configured, tmp_path):
    from recipe.vogue import tiny

    text_only = tmp_path / "text_only"
    tiny.build_tokenizer().save_pretrained(text_only)
    with pytest.raises(ValueError, match="needs a multimodal model with an image processor"):
        check_before_ray(configured(f"actor_rollout_ref.model.path={text_only}"))
    check_before_ray(configured(f"actor_rollout_ref.model.path={text_only}", "vogue.enable=false"))
