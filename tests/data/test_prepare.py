"""The prepare tool on real mp4 files written by PyAV: corrupt and short videos, resume, verify."""

import json
import os

import av
import numpy as np
import pytest

from tests.task_helpers import dataset_of
from vivit.data import prepare as prepare_tool


def _write_mp4(path, num_frames, height=24, width=40, seed=0, codec="mpeg4"):
    """Writes a 10 fps video with PyAV (mp4 with mpeg4, or webm with codec='libvpx')."""
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for t in range(num_frames):
            image = np.full((height, width, 3), (20 + 10 * t) % 256, np.uint8)
            image[rng.integers(height), :] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture
def video_folder(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    rows = ["path,label,split"]
    for i in range(5):
        # One webm among the mp4s.
        name, codec = (f"v{i}.webm", "libvpx") if i == 4 else (f"v{i}.mp4", "mpeg4")
        _write_mp4(videos / name, 12, seed=i, codec=codec)
        rows.append(f"{name},{'jump' if i % 2 else 'run'},{'train' if i < 3 else 'validation'}")
    _write_mp4(videos / "short.mp4", 3)
    rows.append("short.mp4,run,train")
    (videos / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(300))
    rows.append("corrupt.mp4,jump,train")
    annotations = tmp_path / "labels.csv"
    annotations.write_text("\n".join(rows) + "\n")
    return videos, annotations, tmp_path / "out"


def _run(video_folder, *extra):
    videos, annotations, out = video_folder
    return prepare_tool.main([f"--videos={videos}", f"--annotations={annotations}",
                              f"--out={out}", "--min_resize=16", "--videos_per_shard=2",
                              "--workers=1", "--quiet", *extra])


def test_converts_reports_corrupt_and_verifies(video_folder, tiny_config):
    assert _run(video_folder, "--verify") == 0
    out = video_folder[2]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["splits"]["train"]["videos"] == 4  # v0 v1 v2 short
    assert manifest["splits"]["validation"]["videos"] == 2
    assert manifest["splits"]["train"]["frames"] == 3 * 12 + 3
    assert [s["video"].endswith("corrupt.mp4") for s in manifest["skipped"]] == [True]
    assert "cannot decode" in manifest["skipped"][0]["reason"]
    assert (out / "label_map.txt").read_text() == "jump\nrun\n"

    # The output is what video_tfrecord_dataset reads, short video (3 frames) included.
    tiny_config.dataset_name = "video_tfrecord_dataset"
    dc = tiny_config.dataset_configs
    dc.base_dir, dc.num_classes, dc.keep_key = str(out), 2, True
    dc.tables.train = manifest["splits"]["train"]["table"]
    dc.tables.validation = manifest["splits"]["validation"]["table"]
    train = dataset_of(tiny_config, "train", process_index=0, process_count=1)
    batch = next(train.batches())
    assert batch["inputs"].shape == (4, 4, 16, 16, 3)
    assert sorted(batch["key"]) == ["short", "v0", "v1", "v2"]
    labels = dict(zip(batch["key"], batch["label"]))
    assert labels == {"short": 1, "v0": 1, "v1": 0, "v2": 1}
    assert train.meta.label_names == ["jump", "run"]


def test_rerun_after_kill_keeps_whole_shards(video_folder):
    assert _run(video_folder) == 0
    out = video_folder[2]
    kept = out / "train.tfrecord-00000-of-00003"
    redo = out / "train.tfrecord-00001-of-00003"
    kept_bytes, redo_bytes = kept.read_bytes(), redo.read_bytes()
    kept_mtime = kept.stat().st_mtime_ns
    # A killed run: one shard never renamed, a partial temporary file left behind.
    redo.unlink()
    (out / "train.tfrecord-00001-of-00003.tmp-999").write_bytes(redo_bytes[:50])
    assert _run(video_folder, "--verify") == 0
    assert kept.stat().st_mtime_ns == kept_mtime and kept.read_bytes() == kept_bytes
    assert redo.read_bytes() == redo_bytes
    assert not [name for name in os.listdir(out) if ".tmp-" in name]


def test_verify_detects_a_truncated_shard(video_folder, capsys):
    assert _run(video_folder) == 0
    shard = video_folder[2] / "validation.tfrecord-00000-of-00001"
    data = shard.read_bytes()
    first_length = int.from_bytes(data[:8], "little")
    shard.write_bytes(data[: 16 + first_length])  # keep only the first record
    assert prepare_tool.main([f"--out={video_folder[2]}", "--verify"]) == 1
    assert "validation.tfrecord-00000-of-00001: 1 videos" in capsys.readouterr().out


def test_other_annotations_do_not_touch_existing_output(video_folder):
    assert _run(video_folder) == 0
    videos, annotations, out = video_folder
    before = {n: (out / n).read_bytes() for n in os.listdir(out)}
    annotations.write_text("path,label\nv0.mp4,swim\n")
    with pytest.raises(SystemExit, match="other annotations"):
        _run(video_folder)
    assert {n: (out / n).read_bytes() for n in os.listdir(out)} == before


def test_array_record_output_reads_like_tfrecord(video_folder, tiny_config):
    assert _run(video_folder, "--format=array_record", "--verify") == 0
    out = video_folder[2]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "array_record"
    assert manifest["splits"]["validation"]["table"] == "validation.array_record@1"
    tiny_config.dataset_name = "video_tfrecord_dataset"
    dc = tiny_config.dataset_configs
    dc.base_dir, dc.num_classes, dc.keep_key = str(out), 2, True
    dc.tables.validation = manifest["splits"]["validation"]["table"]
    (batch,) = dataset_of(tiny_config, "validation", process_index=0, process_count=1).batches()
    assert batch["batch_mask"].sum() == 2
    assert dict(zip(batch["key"][:2], batch["label"][:2])) == {"v3": 0, "v4": 1}
    assert batch["inputs"].shape == (4, 4, 16, 16, 3)


def test_decode_trims_to_the_annotated_segment(tmp_path):
    from vivit.data.video_decode import decode_to_jpegs

    _write_mp4(tmp_path / "long.mp4", 30, height=20, width=30)  # 3 s at 10 fps
    assert len(decode_to_jpegs(str(tmp_path / "long.mp4"), min_resize=10)) == 30
    trimmed = decode_to_jpegs(str(tmp_path / "long.mp4"), min_resize=10,
                              start_seconds=1.0, end_seconds=2.0)
    assert len(trimmed) == 10
    # A file shorter than the segment end is taken as already trimmed: all its frames.
    whole = decode_to_jpegs(str(tmp_path / "long.mp4"), min_resize=10,
                            start_seconds=10.0, end_seconds=20.0)
    assert len(whole) == 30
    from PIL import Image
    import io

    assert Image.open(io.BytesIO(trimmed[0])).size == (15, 10)  # shorter side 10


def test_sigkill_halfway_then_rerun_gives_whole_unduplicated_shards(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    videos = tmp_path / "videos"
    videos.mkdir()
    rows = ["path,label,split"]
    for i in range(16):
        _write_mp4(videos / f"v{i}.mp4", 30, height=48, width=64, seed=i)
        rows.append(f"v{i}.mp4,{'jump' if i % 2 else 'run'},train")
    annotations = tmp_path / "labels.csv"
    annotations.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    args = [f"--videos={videos}", f"--annotations={annotations}", f"--out={out}",
            "--min_resize=32", "--videos_per_shard=1", "--workers=1", "--quiet"]
    process = subprocess.Popen([sys.executable, "-m", "vivit.data.prepare", *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    done = []
    while time.monotonic() < deadline and process.poll() is None:
        done = [n for n in os.listdir(out) if ".tmp-" not in n and n.endswith("-of-00016")] \
            if out.exists() else []
        if len(done) >= 2:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert 2 <= len(done) < 16
    finished_before = {n: (out / n).read_bytes() for n in done}

    assert prepare_tool.main([*args, "--verify"]) == 0
    shards = sorted(n for n in os.listdir(out) if n.endswith("-of-00016"))
    assert shards == [f"train.tfrecord-{i:05d}-of-00016" for i in range(16)]
    assert not [n for n in os.listdir(out) if ".tmp-" in n]
    for name, data in finished_before.items():  # shards finished before the kill are kept as they were
        assert (out / name).read_bytes() == data
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["splits"]["train"]["videos"] == 16


# Bad input stops before anything is written, with one line naming the cause.

def _one_error_line(capsys_or_text) -> str:
    text = capsys_or_text if isinstance(capsys_or_text, str) else capsys_or_text.readouterr().err
    lines = text.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("prepare: error: "), text
    assert "Traceback" not in text
    return lines[0]


@pytest.mark.parametrize("option, message", [
    ("--min_resize=0", "flag --min_resize=0: 0 is not a positive integer"),
    ("--videos_per_shard=0", "flag --videos_per_shard=0: 0 is not a positive integer"),
    ("--jpeg_quality=101", "flag --jpeg_quality=101: 101 is not an integer in the range [1, 100]"),
    ("--workers=0", "flag --workers=0: 0 is not a positive integer"),
    ("--min_frames=x", "flag --min_frames=x: invalid literal for int()"),
    ("--format=zip", "flag --format=zip: value should be one of <tfrecord|array_record>"),
    ("--bogus=1", "Unknown command line flag 'bogus'"),
    ("stray", "unexpected argument 'stray'"),
])
def test_options_out_of_range_are_refused(video_folder, capsys, option, message):
    """absl flags: each bad flag is one line naming it, exit code 2."""
    with pytest.raises(SystemExit) as stopped:
        _run(video_folder, option)
    assert stopped.value.code == 2
    assert message in _one_error_line(capsys)
    assert not video_folder[2].exists()


def test_a_bad_annotation_row_stops_before_writing(video_folder):
    videos, annotations, out = video_folder
    annotations.write_text("path,label\nv0.mp4,playing guitar, loudly\n")
    with pytest.raises(SystemExit, match=r"^prepare: error: .*labels.csv, line 2: 3 fields"):
        _run(video_folder)
    annotations.write_text("label,youtube_id,time_start,time_end,split\nrun,v0,,1,train\n")
    with pytest.raises(SystemExit, match=r"labels.csv, line 2: time_start='' is not a number"):
        _run(video_folder)
    assert not out.exists()


def test_cli_errors_are_one_line_without_traceback(video_folder):
    import subprocess
    import sys

    videos, annotations, out = video_folder
    annotations.write_text("label,youtube_id,time_start,time_end,split\nrun,v0,,1,train\n")
    result = subprocess.run(
        [sys.executable, "-m", "vivit.data.prepare", f"--videos={videos}",
         f"--annotations={annotations}", f"--out={out}"], capture_output=True, text=True)
    assert result.returncode == 1
    assert "time_start=''" in _one_error_line(result.stderr)


def test_an_out_dir_with_other_shards_but_no_plan_is_refused(video_folder):
    videos, annotations, out = video_folder
    out.mkdir()
    (out / "train.tfrecord-00000-of-00001").write_bytes(b"someone else's shard")
    (out / "label_map.txt").write_text("swim\n")
    before = {n: (out / n).read_bytes() for n in os.listdir(out)}
    with pytest.raises(SystemExit, match=r"--out=.* already holds label_map.txt .*no "
                                          r"prepare_plan.json"):
        _run(video_folder, "--verify")
    assert {n: (out / n).read_bytes() for n in os.listdir(out)} == before


def test_relative_paths_rerun_identically_from_another_directory(video_folder, monkeypatch):
    videos, annotations, out = video_folder
    annotations.write_text("v0.mp4,run\nv1.mp4,jump\n")
    root = videos.parent
    monkeypatch.chdir(root)
    args = ["--annotations=labels.csv", "--min_resize=16", "--workers=1", "--quiet"]
    assert prepare_tool.main(["--videos=videos", "--out=out", *args]) == 0
    shard = out / "train.tfrecord-00000-of-00001"
    written = shard.stat().st_mtime_ns
    (root / "elsewhere").mkdir()
    monkeypatch.chdir(root / "elsewhere")
    args[0] = "--annotations=../labels.csv"
    assert prepare_tool.main(["--videos=../videos/", "--out=../out", *args, "--verify"]) == 0
    assert shard.stat().st_mtime_ns == written  # nothing redone


def test_duplicate_rows_are_converted_once(video_folder, capsys):
    videos, annotations, out = video_folder
    annotations.write_text("v0.mp4,run\nv1.mp4,jump\nv0.mp4,run\n")
    assert _run(video_folder) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["splits"]["train"]["videos"] == 2
    assert "line 3" in capsys.readouterr().err


def _descendants(pid):
    """Pids of the living (not zombie) processes below `pid`, from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            state, parent = stat.rsplit(")", 1)[1].split()[:2]
            if state != "Z":
                children.setdefault(int(parent), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid):
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc to find the workers")
def test_workers_stop_when_the_main_process_is_killed(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    videos = tmp_path / "videos"
    videos.mkdir()
    rows = []
    for i in range(8):
        _write_mp4(videos / f"v{i}.mp4", 40, height=64, width=96, seed=i)
        rows.append(f"v{i}.mp4,{'jump' if i % 2 else 'run'}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "vivit.data.prepare", f"--videos={videos}",
         f"--annotations={tmp_path / 'labels.csv'}", f"--out={tmp_path / 'out'}",
         "--min_resize=64", "--videos_per_shard=1", "--workers=2", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    workers = []
    while time.monotonic() < deadline and process.poll() is None:
        # The forkserver plus two workers below it, and a first shard started.
        workers = _descendants(process.pid)
        started = any(".tmp-" in n for n in os.listdir(tmp_path / "out")) \
            if (tmp_path / "out").exists() else False
        if len(workers) >= 3 and started:
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(workers) >= 3, "the workers never started"
    # Docs: within about a second (checked every 0.1 s); slack for a busy machine.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.1)
    assert [p for p in workers if _alive(p)] == []


def test_help_lists_the_flags_and_exits_0(capsys):
    with pytest.raises(SystemExit) as stopped:
        prepare_tool.main(["--help"])
    assert stopped.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: python -m vivit.data.prepare")
    assert "--jpeg_quality: JPEG quality of the stored frames (default: 90)" in text
    assert "--flagfile" not in text  # absl's own flags are not the tool's


def test_flags_reset_between_calls(tmp_path, capsys):
    """Each main() parses afresh: a flag given once does not leak into the next call."""
    with pytest.raises(SystemExit):
        prepare_tool.parse_args(["--out=x", "--jpeg_quality=101"])
    capsys.readouterr()
    assert prepare_tool.parse_args([f"--out={tmp_path}", "--verify"]).jpeg_quality == 90
