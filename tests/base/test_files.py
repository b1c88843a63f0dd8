"""The file layer: a structure-checked reader, and temporaries removed only for the files named."""

import json
import os

import pytest

from keras_gpos.base.files import (
    is_temporary_of,
    read_json,
    read_record,
    remove_temporaries,
)


@pytest.mark.backend_agnostic
def test_read_record_names_the_file_and_what_was_expected(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"epoch": 1.5, "value": None}))
    with pytest.raises(ValueError, match=rf"{path} is not a valid sidecar: expected a JSON object with 'epoch' "
                                         r"\(an integer\), 'value' \(a number\); 'epoch' is a number; 'value' is null"):
        read_record(path, "sidecar", {"epoch": int, "value": (int, float)})
    with pytest.raises(ValueError, match=rf"sidecar {tmp_path / 'missing.json'} does not exist"):
        read_record(tmp_path / "missing.json", "sidecar")
    path.write_text(json.dumps({"epoch": 2, "value": 0.5, "extra": []}))
    assert read_record(path, "sidecar", {"epoch": int, "value": (int, float)})["epoch"] == 2


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_only_the_temporaries_of_the_named_files_are_removed(tmp_path):
    ours = [".run.json.k2j3.tmp", ".best.tmp.keras", ".saved_model.tmp", ".saved_model.old", ".run.json.tmp123",
            ".epoch-2.tmp.weights.h5"]
    theirs = [".tmp", ".tmp_cache", ".tmpfile.txt", ".notes.tmp.txt", "tmp", ".cache.old"]
    for name in ours + theirs:
        (tmp_path / name).write_text("x")
    removed = remove_temporaries(tmp_path, ["run.json", "best.keras", "saved_model", "epoch-2.weights.h5"])
    assert sorted(p.name for p in removed) == sorted(ours)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(theirs)
    assert not is_temporary_of("run.json", ["run.json"])


def test_corrupt_result_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "run.json"
    path.write_text('{"test_accuracy": 9')
    with pytest.raises(ValueError, match=r"run\.json is not valid JSON"):
        read_json(path)


@pytest.mark.backend_agnostic
def test_corrupt_model_file_is_an_error_naming_it(tmp_path):
    from keras_gpos.base.files import load_keras_model

    path = tmp_path / "model.keras"
    path.write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(ValueError, match=r"model file .*model\.keras \(\d+ bytes\) is not a complete \.keras archive"):
        load_keras_model(path)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("payload, message", [
    (b"", "is empty"),
    (b"PK\x03\x04 truncated", "not a complete .keras archive"),
    (b"hello, not a model", "not a complete .keras archive"),
    (None, "is a directory"),
])
def test_unusable_model_files_say_why(tmp_path, payload, message):
    from keras_gpos.base.files import load_keras_model

    path = tmp_path / "model.keras"
    if payload is None:
        path.mkdir()
    else:
        path.write_bytes(payload)
    with pytest.raises(ValueError, match=message):
        load_keras_model(path)


@pytest.mark.adversarial
def test_atomic_files_get_the_permissions_of_a_plain_file(tmp_path):
    from keras_gpos.base.files import write_json

    previous = os.umask(0o022)
    try:
        (tmp_path / "plain_022.txt").write_text("x")
        write_json(tmp_path / "results.json", {"a": 1})
        assert (tmp_path / "results.json").stat().st_mode & 0o777 == \
            (tmp_path / "plain_022.txt").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        write_json(tmp_path / "private.json", {"a": 1})
        assert (tmp_path / "private.json").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(previous)
