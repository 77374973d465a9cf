"""The crash-leftover check under /proc as the shipped units mount it (``ProcSubset=pid``).

The units hide every /proc file that is not a process's own (``/proc/stat``,
``/proc/uptime``...). These tests run the check in a fresh mount and PID
namespace whose /proc is mounted with ``subset=pid``, as systemd does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import IN_CI

from jobgallery import storage

CHECK = r"""
import json, os, subprocess, sys, time
from pathlib import Path
from jobgallery import storage

folder = storage.ensure_dir(storage.job_folder(Path(sys.argv[1]), 1))
left = folder / ".tmp-0-abcdef012345.jpg"
left.write_bytes(b"left by a writer that died before a power cut")
long_ago = time.time() - 10 * 24 * 3600
os.utime(left, (long_ago, long_ago))
newcomer = subprocess.Popen(["sleep", "30"])  # a living process that now has the dead writer's pid
reused = left.rename(folder / f".tmp-{newcomer.pid}-abcdef012345.jpg")
mine = storage.temp_path(folder, ".jpg")
mine.write_bytes(b"being written now")
print(json.dumps({
    "proc_stat_hidden": not Path("/proc/stat").exists(),
    "started_known": storage.process_started(newcomer.pid) is not None,
    "reused_is_dead": storage.temp_is_dead(reused),
    "mine_is_dead": storage.temp_is_dead(mine),
    "removed": sorted(p.name for p in storage.remove_dead_temps(Path(sys.argv[1]))),
    "reused": reused.name,
}))
newcomer.kill()
"""


def in_units_proc(data: Path) -> dict:
    """Run CHECK with /proc mounted ``subset=pid`` in new mount and PID namespaces."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        if IN_CI:
            pytest.fail("CI runs as root with util-linux: the ProcSubset=pid check must run")
        pytest.skip("needs root and unshare to mount /proc with subset=pid")
    script = 'mount -t proc -o subset=pid proc /proc && exec "$0" -c "$1" "$2"'
    command = ["unshare", "--mount", "--pid", "--fork", "--mount-proc", "sh", "-c", script, sys.executable, CHECK]
    result = subprocess.run([*command, str(data)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_reused_pid_is_told_apart_under_proc_subset_pid(tmp_path: Path) -> None:
    found = in_units_proc(tmp_path)
    assert found["proc_stat_hidden"], "the namespace must hide /proc/stat as the units do"
    assert found["started_known"]
    assert found["reused_is_dead"] and not found["mine_is_dead"]
    assert found["removed"] == [found["reused"]]


def test_start_times_agree_with_the_full_proc(tmp_path: Path) -> None:
    """Outside the namespace /proc/stat is there: its boot time gives the same start, to the tick."""
    btime = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line[:6] == "btime ")
    ticks = int(Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()[19])
    expected = btime + ticks / os.sysconf("SC_CLK_TCK")
    assert abs(storage.process_started(os.getpid()) - expected) < 1.5


AS_THE_DAEMON = r"""
import os, sys, time
from pathlib import Path
from jobgallery import storage

folder, pid = Path(sys.argv[1]), int(sys.argv[2])
left = folder / f".tmp-{pid}-abcdef012345.jpg"
left.write_bytes(b"left by a writer that died before a power cut")
long_ago = time.time() - 10 * 24 * 3600
os.utime(left, (long_ago, long_ago))
assert not Path(f"/proc/{pid}").exists(), "another user's process must be invisible, as under ProtectProc=invisible"
print("dead" if storage.temp_is_dead(left) else "kept")
"""


def test_a_pid_reused_by_another_users_process_is_not_the_writer(tmp_path: Path) -> None:
    """As the daemon's user, with /proc as ``ProcSubset=pid`` and ``ProtectProc=invisible`` mount it."""
    if os.geteuid() != 0 or not all(map(shutil.which, ("unshare", "setpriv", "/usr/bin/python3"))):
        if IN_CI:
            pytest.fail("CI runs as root with util-linux: the ProtectProc=invisible check must run")
        pytest.skip("needs root, unshare and setpriv")
    folder = Path(tempfile.mkdtemp(prefix="jobgallery-job_1-", dir="/tmp"))  # pytest's own folders are root's alone
    os.chown(folder, 65534, 65534)
    source = Path(storage.__file__).resolve().parent.parent
    script = (
        "mount -t proc -o subset=pid,hidepid=invisible proc /proc && sleep 30 & newcomer=$!; "
        'setpriv --reuid 65534 --regid 65534 --clear-groups env PYTHONPATH="$1" '
        '/usr/bin/python3 -c "$2" "$3" $newcomer; status=$?; kill $newcomer; exit $status'
    )
    command = ["unshare", "--mount", "--pid", "--fork", "--mount-proc", "sh", "-c", script, "sh"]
    result = subprocess.run(
        [*command, str(source), AS_THE_DAEMON, str(folder)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "dead"
