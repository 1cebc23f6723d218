"""Annotation formats of the prepare tool: Kinetics CSV, path,label CSV, SSv2 JSON."""

import json

import pytest

from vivit.data.annotations import AnnotationError, read_annotations


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
    csv.write_text("a/x.mp4,cat,\nb.webm,dog,validation\n")  # an empty split is train
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


# Strict parsing: each case below used to write wrong data without a word.

def _read(tmp_path, text, name="a.csv"):
    path = tmp_path / name
    path.write_text(text)
    warnings = []
    entries = read_annotations(str(path), str(tmp_path), warn=warnings.append)
    return entries, warnings


def test_unquoted_comma_in_a_label_is_an_error_naming_the_line(tmp_path):
    with pytest.raises(AnnotationError, match=r"a.csv, line 2: 3 fields .*quote a label"):
        _read(tmp_path, "v.mp4,cat\nw.mp4,playing guitar, loudly\nx.mp4,dog\n")
    # Alone in its file, the stray field would be a split named ' loudly'.
    with pytest.raises(AnnotationError, match=r"line 1: split ' loudly' .*quote it"):
        _read(tmp_path, "w.mp4,playing guitar, loudly\n")
    (entry,) = _read(tmp_path, 'w.mp4,"playing guitar, loudly"\n')[0]
    assert entry.label == "playing guitar, loudly" and entry.split == "train"


def test_spaces_around_a_label_are_stripped_with_a_warning(tmp_path):
    entries, warnings = _read(tmp_path, "v.mp4, cat\nw.mp4,cat\n")
    assert [e.label for e in entries] == ["cat", "cat"]
    assert len(warnings) == 1 and "a.csv, line 1: label ' cat'" in warnings[0]


@pytest.mark.parametrize("header", ["file,class", "path,label", "video_path,label,split"])
def test_a_header_row_is_not_read_as_a_video(tmp_path, header):
    entries, _ = _read(tmp_path, f"{header}\nv.mp4,cat{',train' * header.count('split')}\n")
    assert [(e.video, e.label) for e in entries] == [(str(tmp_path / "v.mp4"), "cat")]


def test_a_first_row_naming_a_video_is_data(tmp_path):
    entries, _ = _read(tmp_path, "clip_a,cat\nclip_b,dog\n")  # no '.', but ...
    assert len(entries) == 1  # ... a missing extension-less first row looks like a header.
    (tmp_path / "clip_a").write_bytes(b"")
    entries, _ = _read(tmp_path, "clip_a,cat\nclip_b,dog\n")
    assert [e.label for e in entries] == ["cat", "dog"]


def test_a_video_listed_twice_is_kept_once_and_two_labels_are_an_error(tmp_path):
    entries, warnings = _read(tmp_path, "v.mp4,cat\nw.mp4,dog\n./v.mp4,cat\n")
    assert [e.label for e in entries] == ["cat", "dog"]
    assert len(warnings) == 1 and "line 3" in warnings[0] and "first at line 1" in warnings[0]
    with pytest.raises(AnnotationError, match=r"line 3: .*v.mp4 is listed as 'dog'.*line 1"):
        _read(tmp_path, "v.mp4,cat\nw.mp4,dog\nv.mp4,dog\n")
    with pytest.raises(AnnotationError, match=r"line 2: .*\(test\) but line 1 .*\(train\)"):
        _read(tmp_path, "v.mp4,cat,train\nv.mp4,cat,test\n")


KINETICS = "label,youtube_id,time_start,time_end,split\n"


@pytest.mark.parametrize("row, message", [
    ("riding,abc,,10,train", r"line 2: time_start='' is not a number of seconds"),
    ("riding,abc,x1,10,train", r"line 2: time_start='x1' is not a number"),
    ("riding,abc,10,5,train", r"line 2: time_end='5' must be after time_start='10'"),
    ("riding a bike, fast,abc,0,10,train", r"line 2: 6 fields where the header has 5.*quote"),
    ("riding,abc,0,10,train set", r"line 2: split 'train set' is not a plain name"),
])
def test_kinetics_rows_are_checked(tmp_path, row, message):
    with pytest.raises(AnnotationError, match=message):
        _read(tmp_path, KINETICS + row + "\n", "k.csv")


def test_kinetics_id_does_not_match_a_longer_id(tmp_path):
    (tmp_path / "abcd.mp4").write_bytes(b"")
    (entry,) = _read(tmp_path, KINETICS + "riding,abc,0,10,train\n", "k.csv")[0]
    assert entry.video == str(tmp_path / "abc.mp4")  # missing: reported as skipped


def test_ssv2_errors_name_the_item(tmp_path):
    with pytest.raises(AnnotationError, match=r"s.json, item 1: needs 'id'"):
        _read(tmp_path, json.dumps([{"id": "1", "template": "a"}, {"label": "b"}]), "s.json")
    with pytest.raises(AnnotationError, match=r"s.json, line 2: not valid JSON"):
        _read(tmp_path, '[{"id": "1",\n "template": }]', "s.json")


def test_paths_with_spaces_around_and_odd_split_names_are_errors(tmp_path):
    with pytest.raises(AnnotationError, match=r"line 1: path 'v.mp4 ' has surrounding spaces"):
        _read(tmp_path, "v.mp4 ,cat\n")
    with pytest.raises(AnnotationError, match=r"line 1: split 'train/x' is not a plain name"):
        _read(tmp_path, "v.mp4,cat,train/x\n")
    path = tmp_path / "s.json"
    path.write_text(json.dumps([{"id": "1", "template": "a"}]))
    with pytest.raises(AnnotationError, match=r"--split\): split '../x' is not a plain name"):
        read_annotations(str(path), str(tmp_path), "../x")
