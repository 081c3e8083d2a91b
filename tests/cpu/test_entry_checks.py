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
    from recipe.vogue.cpu import tiny

    text_only = tmp_path / "text_only"
    tiny.build_tokenizer().save_pretrained(text_only)
    with pytest.raises(ValueError, match="needs a multimodal model with an image processor"):
        check_before_ray(configured(f"actor_rollout_ref.model.path={text_only}"))
    check_before_ray(configured(f"actor_rollout_ref.model.path={text_only}", "vogue.enable=false"))


def test_the_trainer_creates_the_metrics_directory(configured, tmp_path):
    from recipe.vogue.main_vogue import ensure_file_logger_directory

    path = tmp_path / "shared" / "run" / "metrics" / "launch.jsonl"
    config = configured("trainer.logger=[console,file]")
    assert ensure_file_logger_directory(config, {"VERL_FILE_LOGGER_PATH": str(path)}) == str(path.parent)
    assert path.parent.is_dir() and not path.exists()  # verl's logger opens the file itself
    assert ensure_file_logger_directory(config, {}) is None
    assert ensure_file_logger_directory(configured("trainer.logger=[console]"), {"VERL_FILE_LOGGER_PATH": "/x/y"}) is None


def test_a_metrics_path_the_trainer_cannot_create_is_one_line(configured, tmp_path):
    from recipe.vogue.main_vogue import RunSetupError, ensure_file_logger_directory

    blocker = tmp_path / "a_file"
    blocker.write_text("")
    path = blocker / "metrics" / "launch.jsonl"
    with pytest.raises(RunSetupError) as raised:
        ensure_file_logger_directory(configured("trainer.logger=[console,file]"), {"VERL_FILE_LOGGER_PATH": str(path)})
    message = str(raised.value)
    assert message.startswith(f"VERL_FILE_LOGGER_PATH={path}: cannot create {path.parent} on ") and "\n" not in message


def test_a_setup_error_raised_in_a_ray_actor_reaches_main_as_itself():
    """main() catches RunSetupError around verl's run_ppo, whose TaskRunner is a Ray actor: Ray re-raises the
    actor's exception as a subclass of its own type, with the original as ``cause``."""
    import ray

    from recipe.vogue.main_vogue import RunSetupError

    @ray.remote(num_cpus=0)
    class Runner:
        def run(self):
            raise RunSetupError("VERL_FILE_LOGGER_PATH=/x: cannot create /x")

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        with pytest.raises(RunSetupError) as raised:
            ray.get(Runner.remote().run.remote())
    finally:
        ray.shutdown()
    assert str(raised.value.cause) == "VERL_FILE_LOGGER_PATH=/x: cannot create /x"
