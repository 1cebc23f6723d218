"""vivit.workdir: the names of a run's files, its finished steps, and finding a run from a path."""

import json

import pytest

from vivit import workdir


def _step(root, name, finished=True):
    """A checkpoint step folder as Orbax leaves it locally: renamed into place when finished."""
    folder = root / "checkpoints" / (name if finished else f"{name}.orbax-checkpoint-tmp-17")
    (folder / "state").mkdir(parents=True)
    return folder


def test_finished_steps_list_only_completely_written_numbered_steps(tmp_path):
    assert workdir.finished_steps(tmp_path) == []
    for name in ("12", "3"):
        _step(tmp_path, name)
    _step(tmp_path, "15", finished=False)  # a save killed half-way
    (tmp_path / "checkpoints" / "notes").mkdir()
    (tmp_path / "checkpoints" / "7").write_text("a file, not a step")
    assert workdir.finished_steps(tmp_path) == [3, 12]
    assert workdir.finished_steps(tmp_path / "checkpoints") == [3, 12]
    assert workdir.finished_steps(tmp_path / "missing") == []


def test_a_run_is_found_from_any_of_its_checkpoint_folders(tmp_path):
    run = tmp_path / "run"
    step = _step(run, "4")
    assert workdir.find_run(run) is None  # no config.json: training never started here
    (run / workdir.CONFIG_FILE).write_text("{}")
    for inside in (run, run / "checkpoints", step, step / "state"):
        assert workdir.find_run(inside) == str(run)
    assert workdir.find_run(tmp_path) is None


def test_label_names_and_config_round_trip_and_bad_files_are_named(tmp_path):
    assert workdir.read_label_names(tmp_path) is None
    workdir.write_label_names(tmp_path, None)
    assert not (tmp_path / workdir.LABEL_NAMES_FILE).exists()
    workdir.write_label_names(tmp_path, ("left", "right"))
    assert workdir.read_label_names(tmp_path) == ["left", "right"]
    (tmp_path / workdir.LABEL_NAMES_FILE).write_text('{"left": 0}')
    with pytest.raises(workdir.RunFileError, match="label_names.json.*list of class names"):
        workdir.read_label_names(tmp_path)

    with pytest.raises(FileNotFoundError, match="has no config.json"):
        workdir.read_config_values(tmp_path)
    (tmp_path / workdir.CONFIG_FILE).write_text("[1, 2")
    with pytest.raises(workdir.RunFileError, match="config.json' is not valid JSON"):
        workdir.read_config_values(tmp_path)
    (tmp_path / workdir.CONFIG_FILE).write_text(json.dumps({"batch_size": 8}))
    assert workdir.read_config_values(tmp_path) == {"batch_size": 8}
