import numpy as np
import pytest

from nfp_lib.fileio import atomic_path, atomic_save, atomic_write_bytes, atomic_write_text


def test_writes_and_replaces(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.txt"]


def test_failure_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "model.bin"
    atomic_write_bytes(target, b"good")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["model.bin"]


def test_keeps_suffix_for_picky_writers(tmp_path):
    target = tmp_path / "arr.npy"
    atomic_save(target, lambda tmp: np.save(tmp, np.arange(3)))
    np.testing.assert_array_equal(np.load(target), np.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["arr.npy"]


def test_written_file_has_the_usual_permissions(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    target = atomic_write_text(tmp_path / "atomic.txt", "x")
    assert target.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_an_os_error_names_the_target_not_the_temporary_file(tmp_path):
    def full_disk(tmp):
        raise OSError(28, "No space left on device", str(tmp))

    with pytest.raises(OSError) as err:
        atomic_save(tmp_path / "out.npy", full_disk)
    assert err.value.filename == str(tmp_path / "out.npy") and err.value.errno == 28
    assert list(tmp_path.iterdir()) == []
