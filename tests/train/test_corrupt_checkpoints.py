"""A damaged checkpoint step is skipped for the newest intact one, with a warning naming what is
wrong; damage (truncated or missing array files, emptied _METADATA) is told apart from a state of
another structure; training moves damaged steps aside instead of deleting them."""

import gc
import signal

import jax
import numpy as np
import pytest

from tests.train.tiny_model import tiny_state
from vivit.train import checkpointing


def _two_steps(workdir):
    """Steps 1 and 2 saved; step k's params are the initial ones + k."""
    state, abstract = tiny_state("adam")
    checkpointer = checkpointing.Checkpointer(workdir, save_every=1, max_to_keep=5)
    for step in (1, 2):
        checkpointer.save(step, state.replace(
            step=step, params=jax.tree.map(lambda p, k=step: p + k, state.params)))
    checkpointer.close()
    return state, abstract


def _array_files(step_dir):
    return sorted((p for p in step_dir.rglob("*") if p.is_file() and p.parent.name == "d"),
                  key=lambda p: p.stat().st_size)


def _truncate_largest_array_file(step_dir):
    largest = _array_files(step_dir)[-1]
    largest.write_bytes(largest.read_bytes()[:100])
    return largest


def _restore(workdir, abstract, **kwargs):
    checkpointer = checkpointing.Checkpointer(workdir, save_every=1, max_to_keep=5)
    try:
        return checkpointer.restore_newest_intact(abstract, **kwargs), checkpointer
    finally:
        checkpointer.close()


def _damage_missing_file(step_dir):
    _array_files(step_dir)[-1].unlink()


def _damage_empty_metadata(step_dir):
    (step_dir / "state" / "_METADATA").write_text("")


@pytest.mark.parametrize("damage,reason", [
    (_truncate_largest_array_file, "its arrays cannot be read"),
    (_damage_missing_file, "its arrays cannot be read"),
    (_damage_empty_metadata, "_METADATA is empty or unreadable"),
], ids=["truncated_array_file", "missing_array_file", "empty_metadata"])
def test_a_damaged_latest_step_falls_back_to_the_older_one(tmp_path, caplog, damage, reason):
    state, abstract = _two_steps(tmp_path)
    damage(tmp_path / "checkpoints" / "2")
    with caplog.at_level("WARNING"):
        (restored, skipped), _ = _restore(tmp_path, abstract)
    assert int(restored.step) == 1
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b + 1), restored.params, state.params)
    assert [step for step, _ in skipped] == [2]
    assert reason in skipped[0][1]
    assert f"Checkpoint step 2 in {tmp_path / 'checkpoints'} is corrupt and is skipped" in caplog.text
    assert (tmp_path / "checkpoints" / "2").is_dir()  # Reading never moves or deletes anything.


def test_training_moves_damaged_steps_aside_and_can_save_their_numbers_again(tmp_path):
    state, abstract = _two_steps(tmp_path)
    damaged = _truncate_largest_array_file(tmp_path / "checkpoints" / "2")
    damaged_bytes = damaged.read_bytes()
    checkpointer = checkpointing.Checkpointer(tmp_path, save_every=1, max_to_keep=5)
    restored, skipped = checkpointer.restore_newest_intact(abstract)
    checkpointer.set_aside([step for step, _ in skipped])
    moved = tmp_path / "corrupt_checkpoints" / "2"
    assert (moved / damaged.relative_to(tmp_path / "checkpoints" / "2")).read_bytes() == damaged_bytes
    assert checkpointer.all_steps() == [1]
    assert checkpointer.save(2, restored.replace(step=2), force=True)
    checkpointer.close()
    (again, skipped), _ = _restore(tmp_path, abstract)
    assert int(again.step) == 2 and skipped == []


def test_every_step_damaged_is_one_error_naming_each(tmp_path):
    _, abstract = _two_steps(tmp_path)
    _truncate_largest_array_file(tmp_path / "checkpoints" / "2")
    _damage_empty_metadata(tmp_path / "checkpoints" / "1")
    with pytest.raises(checkpointing.CorruptCheckpointError,
                       match=r"Every checkpoint in .* is corrupt: step 2: its arrays cannot be "
                             r"read.*; step 1: .*_METADATA is empty"):
        _restore(tmp_path, abstract)


def test_a_state_of_another_structure_is_not_called_corrupt(tmp_path):
    _two_steps(tmp_path)
    _, momentum_abstract = tiny_state("momentum")  # Other optimizer state: other arrays.
    with pytest.raises(ValueError, match="do not have the shapes") as raised:
        _restore(tmp_path, momentum_abstract)
    assert not isinstance(raised.value, checkpointing.CorruptCheckpointError)


def test_check_step_readable_names_the_damage(tmp_path):
    _two_steps(tmp_path)
    checkpointing.check_step_readable(tmp_path / "checkpoints" / "1")
    _truncate_largest_array_file(tmp_path / "checkpoints" / "1")
    with pytest.raises(checkpointing.CorruptCheckpointError, match="cannot be read: .*Error reading"):
        checkpointing.check_step_readable(tmp_path / "checkpoints" / "1")


def test_leftover_reads_of_a_damaged_step_are_not_reported_again(tmp_path, caplog, monkeypatch):
    """Failed reads of a step already named as damaged stay quiet when asyncio collects their
    tasks or Python closes their coroutines (tracebacks on stderr after the one-line warning,
    seen in CI); other errors, also about other steps, are still reported."""
    import asyncio
    import sys
    import types

    gc.collect()  # Earlier tests' leftovers (e.g. closed event loops) are not this test's.
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", lambda report: unraisable.append(report.exc_value))
    _two_steps(tmp_path)
    step_dir = tmp_path / "checkpoints" / "1"
    _truncate_largest_array_file(step_dir)
    with pytest.raises(checkpointing.CorruptCheckpointError):
        checkpointing.check_step_readable(step_dir)

    for text in (f"reading array index: TensorStore({{'path': '{step_dir}/state/'}})",
                 f"reading array index: TensorStore({{'path': '{step_dir}0/state/'}})"):
        sys.unraisablehook(types.SimpleNamespace(exc_value=Exception(text)))
    assert [str(error) for error in unraisable] == [
        f"reading array index: TensorStore({{'path': '{step_dir}0/state/'}})"]

    async def fail(message):
        raise ValueError(message)

    def abandon(message):
        loop = asyncio.new_event_loop()
        task = loop.create_task(fail(message))
        gathered = asyncio.gather(loop.create_task(fail(message)))
        loop.run_until_complete(asyncio.sleep(0))
        assert task.done() and gathered.done()
        loop.close()
        del task, gathered
        gc.collect()

    def asyncio_reports():
        return [r for r in caplog.records if r.name == "asyncio"]

    abandon(f'OUT_OF_RANGE: Error reading "x" at local file "{step_dir}/state/"')
    assert asyncio_reports() == []
    abandon("an unrelated failure")
    reports = asyncio_reports()
    assert sorted(r.getMessage().split()[0] for r in reports) == ["Task", "_GatheringFuture"]
    assert all("an unrelated failure" in str(r.exc_info[1]) for r in reports)


def test_sigint_asks_for_a_save_and_a_second_one_gets_the_default_action():
    # What was installed before (Python's default, or SIG_IGN in a background job) comes back.
    before = signal.getsignal(signal.SIGINT)
    preemption = checkpointing.PreemptionSignal()
    try:
        assert not preemption.reached(0)
        signal.raise_signal(signal.SIGINT)
        assert preemption.reached(0)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_DFL
    finally:
        preemption.restore_handlers()
    assert signal.getsignal(signal.SIGINT) is before


def test_closed_loop_reports_are_dropped_from_before_a_restore_fails(tmp_path, monkeypatch):
    """A read can finish on Orbax's closed loop while the restore failure is still propagating
    (a bare "Event loop is closed" traceback on stderr, seen in CI): the quiet hook is in place
    before the restore starts, even one that then succeeds; other reports still get through."""
    import sys
    import types

    gc.collect()  # Earlier tests' leftovers (e.g. closed event loops) are not this test's.
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", lambda report: unraisable.append(report.exc_value))
    _two_steps(tmp_path)
    checkpointing.check_step_readable(tmp_path / "checkpoints" / "1")  # intact: nothing fails

    sys.unraisablehook(types.SimpleNamespace(exc_value=RuntimeError("Event loop is closed")))
    sys.unraisablehook(types.SimpleNamespace(exc_value=RuntimeError("something else")))
    assert [str(error) for error in unraisable] == ["something else"]
