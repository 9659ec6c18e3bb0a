"""kernel/paths.py: directories and files reached without following a symlink, through openat2 and
through the walk that stands in for it where the kernel lacks it or a seccomp filter refuses it."""

import errno
import os
import stat

import pytest

from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import paths


@pytest.fixture(params=["openat2", "walk"])
def lookup(request, monkeypatch):
    if request.param == "walk":
        monkeypatch.setattr(paths, "_openat2", lambda path, how: -1)
    return request.param


@pytest.fixture
def tree(tmp_path):
    """real/sub/file, a symlink to real, a symlink to the file."""
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "real" / "sub" / "file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "file-link").symlink_to(tmp_path / "real" / "sub" / "file")
    return tmp_path


def failure(call, *args):
    with pytest.raises(OSError) as raised:
        os.close(call(*args))
    return raised.value.errno, raised.value.filename


def test_symlinks_are_never_followed(tree, lookup):
    fd = paths.open_directory(str(tree / "real" / "sub"))
    assert os.path.samestat(os.fstat(fd), os.stat(tree / "real" / "sub"))
    os.close(fd)
    fd = paths.open_entry(str(tree / "real" / "sub" / "file"))
    assert os.path.samestat(os.fstat(fd), os.stat(tree / "real" / "sub" / "file"))
    os.close(fd)
    assert failure(paths.open_directory, str(tree / "link" / "sub"))[0] == errno.ELOOP
    assert failure(paths.open_entry, str(tree / "real" / "file-link"))[0] == errno.ELOOP
    assert failure(paths.open_directory, str(tree / "real" / "sub" / "file"))[0] == errno.ENOTDIR
    assert failure(paths.open_directory, str(tree / "missing" / "x"))[0] == errno.ENOENT
    assert failure(paths.open_directory, "relative/path")[0] == errno.EINVAL
    assert failure(paths.open_directory, str(tree / "real" / ".." / "real"))[0] == errno.EINVAL


def test_the_walk_names_the_component_at_fault(tree):
    assert failure(paths.open_directory, str(tree / "link" / "sub")) == (errno.ELOOP, str(tree / "link"))
    assert failure(paths.open_directory, str(tree / "real" / "sub" / "file" / "x")) == \
        (errno.ENOTDIR, str(tree / "real" / "sub" / "file"))
    assert failure(paths.open_directory, str(tree / "missing" / "x")) == (errno.ENOENT, str(tree / "missing"))


def test_missing_directories_are_made_and_each_one_checked_first(tree):
    seen = []
    target = tree / "real" / "made" / "deeper"
    fd = paths.open_directory(str(target), make_mode=0o700, check=lambda path, st, made: seen.append((path, made)))
    os.close(fd)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o700
    assert seen[-3:] == [(str(tree / "real"), False), (str(tree / "real" / "made"), True), (str(target), True)]
    assert [path for path, made in seen][0] == "/"

    def refuse(path, st, made):
        if path == str(tree / "real"):
            raise PermissionError(path)

    with pytest.raises(PermissionError):
        paths.open_directory(str(tree / "real" / "not-made"), make_mode=0o700, check=refuse)
    assert not (tree / "real" / "not-made").exists()
