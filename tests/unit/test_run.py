"""Pure logic of `ocix run`: FIFO stdio, overlay reads, bundle specs, fault mapping, CLI usage."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ocix.errors import OcixError
from ocix.oci import bundle as bundlefs
from tests.helpers import is_root, run_cli

ROOT = Path(__file__).resolve().parents[2]


# -- FIFOs ------------------------------------------------------------------------------------
def test_fifo_set_has_the_fifos_the_shim_needs(tmp_path: Path) -> None:
    from ocix.containerd.cio import new_fifo_set, remove_fifo_dir

    f = new_fifo_set("c1", stdin=True, terminal=False, root=str(tmp_path))
    assert Path(f.dir).parent == tmp_path
    assert stat.S_IMODE(os.stat(f.dir).st_mode) == 0o700
    for p in (f.stdin, f.stdout, f.stderr):
        assert stat.S_ISFIFO(os.stat(p).st_mode)
    assert f.stdout.endswith("/c1-stdout") and f.stderr.endswith("/c1-stderr")
    assert f.stdio().stdin == f.stdin and not f.stdio().terminal
    remove_fifo_dir(f)
    assert not os.path.exists(f.dir)


def test_fifo_set_with_terminal_has_no_stderr_and_no_stdin_unless_asked(tmp_path: Path) -> None:
    from ocix.containerd.cio import new_fifo_set, remove_fifo_dir

    f = new_fifo_set("c2", stdin=False, terminal=True, root=str(tmp_path))
    assert f.stderr == "" and f.stdin == "" and f.terminal
    assert sorted(os.listdir(f.dir)) == ["c2-stdout"]
    remove_fifo_dir(f)


def test_attached_io_copies_output_separately_and_waits_for_the_writer(tmp_path: Path) -> None:
    from ocix.containerd.cio import AttachedIO, new_fifo_set

    f = new_fifo_set("c3", stdin=False, terminal=False, root=str(tmp_path))
    out, err = io.BytesIO(), io.BytesIO()
    aio = AttachedIO(f, out, err)
    aio.open()  # before any writer: must not block, must not read EOF early
    aio.start()
    # the "shim" connects late and writes in pieces
    w_out = os.open(f.stdout, os.O_WRONLY)
    w_err = os.open(f.stderr, os.O_WRONLY)
    os.write(w_out, b"hello ")
    os.write(w_err, b"oops\n")
    os.write(w_out, b"world\n" * 20000)  # more than a pipe buffer
    os.close(w_out)
    os.close(w_err)
    aio.finish(timeout=5)
    assert out.getvalue() == b"hello " + b"world\n" * 20000
    assert err.getvalue() == b"oops\n"
    aio.close()
    assert not os.path.exists(f.dir)


def test_attached_io_forwards_stdin_and_signals_eof(tmp_path: Path) -> None:
    from ocix.containerd.cio import AttachedIO, new_fifo_set

    f = new_fifo_set("c4", stdin=True, terminal=False, root=str(tmp_path))
    eof = threading.Event()
    aio = AttachedIO(f, io.BytesIO(), io.BytesIO(), io.BytesIO(b"line1\nline2\n"),
                     on_stdin_eof=eof.set)
    aio.open()
    reader = os.open(f.stdin, os.O_RDONLY | os.O_NONBLOCK)  # the "shim" side
    os.set_blocking(reader, True)
    aio.start()
    aio.start_stdin()
    assert eof.wait(5)
    got = b""
    while chunk := os.read(reader, 4096):
        got += chunk
    os.close(reader)
    assert got == b"line1\nline2\n"
    aio.close()


# -- overlay reads ----------------------------------------------------------------------------
class M:
    def __init__(self, type: str, source: str, options: list[str]) -> None:
        self.type, self.source, self.options = type, source, options


def test_layer_dirs_from_overlay_and_bind_mounts() -> None:
    ov = M("overlay", "overlay", ["index=off", "workdir=/s/3/work", "upperdir=/s/3/fs",
                                  "lowerdir=/s/2/fs:/s/1/fs"])
    assert bundlefs.layer_dirs([ov]) == [Path("/s/3/fs"), Path("/s/2/fs"), Path("/s/1/fs")]
    view = M("overlay", "overlay", ["lowerdir=/s/2/fs:/s/1/fs"])
    assert bundlefs.layer_dirs([view]) == [Path("/s/2/fs"), Path("/s/1/fs")]
    assert bundlefs.layer_dirs([M("bind", "/s/1/fs", ["ro", "rbind"])]) == [Path("/s/1/fs")]
    assert bundlefs.layer_dirs([M("btrfs", "/dev/x", [])]) is None
    assert bundlefs.layer_dirs([]) is None


def _layers(tmp_path: Path) -> list[Path]:
    top, mid, base = tmp_path / "top", tmp_path / "mid", tmp_path / "base"
    for d in (top, mid, base):
        (d / "etc").mkdir(parents=True)
    (base / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (base / "etc" / "group").write_text("root:x:0:\n")
    (base / "etc" / "hosts").write_text("base hosts\n")
    (mid / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n")
    (mid / "usr").mkdir()
    (mid / "usr" / "group.real").write_text("app:x:1000:\n")
    (top / "etc" / "shadowed").write_text("x")
    # symlinks resolve inside the rootfs, across layers
    os.symlink("/usr/group.real", top / "etc" / "group")
    os.symlink("../../../../../etc/passwd", top / "etc" / "escape")
    return [top, mid, base]


def test_layered_reader_merges_top_first_and_confines_symlinks(tmp_path: Path) -> None:
    read = bundlefs.layered_reader(_layers(tmp_path))
    assert read("/etc/passwd") == b"root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n"
    assert read("/etc/group") == b"app:x:1000:\n"
    assert read("/etc/hosts") == b"base hosts\n"
    assert read("/etc/escape") == read("/etc/passwd")  # '..' stops at the rootfs
    assert read("/etc/missing") is None
    assert read("/etc/hosts/x") is None
    assert read("/etc") is None


@pytest.mark.skipif(not is_root(), reason="whiteouts (mknod) and trusted.* xattrs need root")
def test_layered_reader_honours_whiteouts_and_opaque_dirs(tmp_path: Path) -> None:
    top, mid, base = _layers(tmp_path)
    os.mknod(top / "etc" / "hosts", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    (top / "opt").mkdir()
    (base / "opt").mkdir()
    (base / "opt" / "old").write_text("old")
    (top / "opt" / "new").write_text("new")
    os.setxattr(top / "opt", "trusted.overlay.opaque", b"y")
    read = bundlefs.layered_reader([top, mid, base])
    assert read("/etc/hosts") is None
    assert read("/opt/new") == b"new"
    assert read("/opt/old") is None
    from ocix.oci.user import resolve_user

    assert resolve_user("app", read).to_json() == {"uid": 1000, "gid": 1000,
                                                   "additionalGids": [1000]}


# -- bundle spec ------------------------------------------------------------------------------
def test_bundle_spec_is_standalone_and_leaves_the_run_spec_alone() -> None:
    from ocix.oci.spec import generate

    spec = generate("default", "web", {"config": {"Cmd": ["sh"]}}, last_cap=40)
    b = bundlefs.bundle_spec(spec, "web")
    assert b["linux"]["cgroupsPath"] == "/ocix-bundle/web"
    assert b["root"] == {"path": "rootfs"}
    assert spec["linux"]["cgroupsPath"] == "/default/web"
    assert b["process"] == spec["process"]


def test_write_bundle_refuses_a_non_empty_rootfs(tmp_path: Path) -> None:
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "rootfs" / "x").write_text("x")
    with pytest.raises(OcixError, match="is not empty"):
        bundlefs.write_bundle(tmp_path, {"ociVersion": "1.0.2-dev"})


# -- faults -----------------------------------------------------------------------------------
RUNC_NOT_FOUND = ("failed to create shim task: OCI runtime create failed: runc create failed: "
                  "unable to start container process: exec: \"nosuch\": executable file not found "
                  "in $PATH: unknown")
CRUN_NOT_FOUND = ("failed to create shim task: OCI runtime create failed: executable file `nosuch` "
                  "not found in $PATH: No such file or directory: unknown")


@pytest.mark.parametrize("text", [RUNC_NOT_FOUND, CRUN_NOT_FOUND])
def test_command_not_found_becomes_exit_127(text: str) -> None:
    from ocix.jobs.containers.attach import exec_error

    e = exec_error(OcixError(text), ["nosuch", "-x"], "docker.io/library/busybox:latest")
    assert e.exit_code == 127
    assert e.message == "command 'nosuch' not found in image docker.io/library/busybox:latest"


def test_other_runtime_errors_pass_through() -> None:
    from ocix.jobs.containers.attach import exec_error

    e = OcixError("failed to create shim task: something else")
    assert exec_error(e, ["sh"], "img") is e


def test_stop_signal_label_defaults_to_sigterm() -> None:
    from ocix.jobs.containers.imagespec import stop_signal

    assert stop_signal({}) == "SIGTERM"
    assert stop_signal({"config": {"StopSignal": "SIGQUIT"}}) == "SIGQUIT"


def test_parse_bytes() -> None:
    from ocix.cli.options import parse_bytes

    assert parse_bytes("1048576") == 1 << 20
    assert parse_bytes("64m") == 64 << 20
    assert parse_bytes("1.5G") == 3 << 29
    assert parse_bytes("512KiB") == 512 << 10


# -- CLI usage faults (no daemon needed) --------------------------------------------------------
def test_run_rejects_an_invalid_container_id_with_exit_2() -> None:
    r = run_cli(["-a", "/nonexistent/containerd.sock", "run", "--rm", "--name", "bad id",
                 "busybox", "true"])
    assert r.exit_code == 2
    assert r.stderr == ("Error: container id 'bad id' is invalid: use letters and digits, separated "
                        "by single '.', '_' or '-' (must match "
                        "^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$)\n")


def test_run_rm_and_detach_exclude_each_other() -> None:
    r = run_cli(["-a", "/nonexistent/containerd.sock", "run", "--rm", "-d", "busybox"])
    assert r.exit_code == 2
    assert r.stderr == "Error: --rm and -d cannot be used together\n"


def test_run_with_containerd_unreachable_exits_2() -> None:
    r = run_cli(["-a", "/nonexistent/containerd.sock", "run", "--rm", "busybox", "true"])
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == "Error: containerd socket /nonexistent/containerd.sock does not exist"


def test_run_passes_options_after_the_image_to_the_command() -> None:
    from ocix.cli.containers.run import run

    ctx = run.make_context("run", ["--rm", "busybox", "ls", "-l", "--name", "x"])
    assert ctx.params["command"] == ("ls", "-l", "--name", "x")
    assert ctx.params["name"] is None


def test_help_does_not_import_grpc_or_stubs() -> None:
    code = ("import sys\nfrom ocix.cli.main import cli\n"
            "for args in (['--help'], ['run', '--help'], ['tasks', '--help'], ['containers', 'ls', '--help']):\n"
            "    try:\n        cli(args, prog_name='ocix')\n    except SystemExit:\n        pass\n"
            "bad = [m for m in sys.modules if m == 'grpc' or m.startswith('ocix._api') or m == 'rich']\n"
            "print('BAD', bad)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "BAD []"
