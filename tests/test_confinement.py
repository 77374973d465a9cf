"""The filesystem layer's last check: a write or delete never leaves the folder it was given.

These call the publishing functions the build uses with paths a crafted row
could produce, and with symlinks planted in ``output/``; every one must be
refused (UnsafePath) with the files outside untouched.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from maintenance_support import job_with_photos, run_cli

from generator.publish import link_file, prune_folder, remove_tree, write_if_changed
from jobgallery import db, storage
from jobgallery.errors import UnsafePath
from jobgallery.maintenance.archive import archive_path


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, Path]:
    """``output/`` with one job folder, and a ``data/`` beside it holding a database and a master."""
    output, data = tmp_path / "output", tmp_path / "data"
    (output / "jobs" / "1-roof").mkdir(parents=True)
    (output / "jobs" / "1-roof" / "index.html").write_bytes(b"page")
    (data / "images" / "job_2").mkdir(parents=True)
    (data / "jobgallery.db").write_bytes(b"rows")
    (data / "images" / "job_2" / "img_1.jpg").write_bytes(b"master")
    return output, data


def untouched(data: Path) -> bool:
    return (data / "jobgallery.db").read_bytes() == b"rows" and sorted(p.name for p in data.rglob("*")) == [
        "images",
        "img_1.jpg",
        "job_2",
        "jobgallery.db",
    ]


ESCAPES = [
    "jobs/1-x/../../../data",
    "jobs/1-x/../../../data/images/job_2",
    "/etc",
    "../data",
]


@pytest.mark.parametrize("folder", ESCAPES)
def test_prune_and_remove_refuse_a_folder_outside_output(site, folder: str) -> None:
    output, data = site
    with pytest.raises(UnsafePath):
        prune_folder(output / folder, {"index.html"}, output)
    with pytest.raises(UnsafePath):
        remove_tree(output / folder, output)
    assert untouched(data)


@pytest.mark.parametrize("folder", ESCAPES)
def test_writes_and_links_refuse_a_target_outside_output(site, folder: str) -> None:
    output, data = site
    with pytest.raises(UnsafePath):
        write_if_changed(output / folder / "index.html", b"<html>", output)
    with pytest.raises(UnsafePath):
        link_file(output / "jobs" / "1-roof" / "index.html", output / folder / "index.html", output)
    assert untouched(data)


def test_a_symlink_planted_in_output_is_not_followed(site) -> None:
    output, data = site
    (output / "jobs" / "2-shed").symlink_to(data)
    (output / "jobs" / "3-fence").symlink_to(data / "images" / "job_2")
    for name in ("2-shed", "3-fence"):
        with pytest.raises(UnsafePath):
            prune_folder(output / "jobs" / name, set(), output)
        with pytest.raises(UnsafePath):
            write_if_changed(output / "jobs" / name / "index.html", b"x", output)
    assert remove_tree(output / "jobs" / "2-shed", output) == 1  # the link goes, not what it points at
    assert untouched(data) and not (output / "jobs" / "2-shed").exists()


def test_the_whole_output_folder_is_never_removed(site) -> None:
    output, _ = site
    with pytest.raises(UnsafePath):
        remove_tree(output / "jobs" / "..", output)
    assert (output / "jobs" / "1-roof" / "index.html").is_file()


@pytest.mark.parametrize("path", ["a/../b", "a/b/..", "a\0b"])
def test_storage_writers_and_deleters_refuse_upward_paths(tmp_path: Path, path: str) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").write_bytes(b"keep")
    with pytest.raises(UnsafePath):
        storage.atomic_write(tmp_path / path, b"x")
    with pytest.raises(UnsafePath):
        storage.remove_file(tmp_path / path)
    assert (tmp_path / "b").read_bytes() == b"keep"


def test_within_accepts_what_stays_inside(tmp_path: Path) -> None:
    (tmp_path / "root" / "jobs").mkdir(parents=True)
    inside = tmp_path / "root" / "jobs" / "1-roof" / "index.html"
    assert storage.within(tmp_path / "root", inside) == inside
    os.symlink(tmp_path / "root", tmp_path / "alias")
    assert storage.within(tmp_path / "alias", tmp_path / "alias" / "jobs") == tmp_path / "alias" / "jobs"
    with pytest.raises(UnsafePath):
        storage.within(tmp_path / "root", tmp_path / "rootless")


def test_restore_refuses_a_job_folder_that_is_a_symlink_out_of_data(make_config, tmp_path) -> None:
    """A job folder swapped for a symlink (to /etc, say) is not written through."""
    config = make_config()
    with db.open_db(config.db_path) as conn:
        job = job_with_photos(config, conn, count=1)
    assert run_cli(config, "archive", "--job", str(job.id)).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    storage.job_folder(config.paths.data, job.id).symlink_to(elsewhere)

    result = run_cli(config, "restore", str(archive_path(config, job.id)))

    assert result.returncode == 1 and "outside" in result.stderr and "Traceback" not in result.stderr
    assert list(elsewhere.iterdir()) == []
