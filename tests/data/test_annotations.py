"""Annotation formats of the prepare tool: Kinetics CSV, path,label CSV, SSv2 JSON."""

import json

import pytest

from vivit.data.annotations import read_annotations


def test_kinetics_csv_finds_trimmed_downloads(tmp_path):
    (tmp_path / "abc_000010_000020.mp4").write_bytes(b"")
    csv = tmp_path / "k.csv"
    csv.write_text("label,youtube_id,time_start,time_end,split\n"
                   "riding a bike,abc,10,20,train\nswimming,missing,0,10,val\n")
    first, second = read_annotations(str(csv), str(tmp_path))
    assert first.video.endswith("abc_000010_000020.mp4") and first.label == "riding a bike"
    assert (first.start_seconds, first.end_seconds, first.split) == (10.0, 20.0, "train")
    assert second.video.endswith("missing.mp4") and second.split == "val"


def test_path_label_csv_and_bad_line(tmp_path):
    csv = tmp_path / "a.csv"
    csv.write_text("a/x.mp4,cat\nb.webm,dog,validation\n")
    entries = read_annotations(str(csv), "/v")
    assert [(e.video, e.label, e.split) for e in entries] == [
        ("/v/a/x.mp4", "cat", "train"), ("/v/b.webm", "dog", "validation")]
    csv.write_text("a.mp4\n")
    with pytest.raises(ValueError, match="a.csv, line 1"):
        read_annotations(str(csv), "/v")


def test_ssv2_json(tmp_path):
    path = tmp_path / "something-something-v2-validation.json"
    path.write_text(json.dumps([{"id": "7", "template": "Pushing [something] from left to right"}]))
    (entry,) = read_annotations(str(path), "/v", "validation")
    assert entry.video == "/v/7.webm" and entry.split == "validation"
    assert entry.label == "Pushing something from left to right"
