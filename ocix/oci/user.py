"""Resolve an image's USER against its /etc/passwd and /etc/group, as containerd 1.6 does.

Semantics follow containerd's oci.WithUser, WithUserID, WithUsername and WithAdditionalGIDs
and runc's user parser, which containerd uses to read the files (docs/sources.md).
Files come from a `read_file(path) -> bytes | None` callback (None = no such file), so the same
code works on a mounted snapshot, a layer walk, or a test dict.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Protocol, TypeVar

from ..errors import InvalidArgumentError, OcixError

ReadFile = Callable[[str], "bytes | None"]

PASSWD = "/etc/passwd"
GROUP = "/etc/group"

# runc caps ids at MaxInt32, and containerd follows it (WithUser's maxUserID).
MAX_ID = 2**31 - 1
MAX_LINKS = 255  # symlinks followed while resolving one path
# Go's strconv.Atoi: optional sign, ASCII digits only (Python's int() also takes "1_0" and spaces).
_GO_INT = re.compile(r"^[+-]?[0-9]+$")


class UserLookupError(InvalidArgumentError):
    """The image's USER (or --user) cannot be resolved in its /etc/passwd or /etc/group."""


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str = ""
    shell: str = ""


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResolvedUser:
    """process.user of the spec: uid, gid and additionalGids (the primary gid always included)."""

    uid: int
    gid: int
    additional_gids: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        d: dict[str, object] = {"uid": self.uid, "gid": self.gid}
        if self.additional_gids:
            d["additionalGids"] = list(self.additional_gids)
        return d


def _go_atoi(s: str) -> int | None:
    """strconv.Atoi: None where Go would fail (runc ignores such errors and uses 0)."""
    if not _GO_INT.match(s):
        return None
    return int(s)


def _fields(line: str, n: int) -> list[str]:
    parts = line.split(":")[:n]
    return parts + [""] * (n - len(parts))


def parse_passwd(data: bytes) -> list[PasswdEntry]:
    """runc's ParsePasswd: blank lines skipped, bad numbers read as 0, '#' lines NOT skipped."""
    out: list[PasswdEntry] = []
    for raw in data.decode("utf-8", "surrogateescape").splitlines():
        line = raw.strip()
        if not line:
            continue
        name, _pw, uid, gid, _gecos, home, shell = _fields(line, 7)
        out.append(PasswdEntry(name, _go_atoi(uid) or 0, _go_atoi(gid) or 0, home, shell))
    return out


def parse_group(data: bytes) -> list[GroupEntry]:
    """runc's ParseGroup: blank and '#' lines skipped; members split on ',' untrimmed."""
    out: list[GroupEntry] = []
    for raw in data.decode("utf-8", "surrogateescape").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _pw, gid, members = _fields(line, 4)
        out.append(GroupEntry(name, _go_atoi(gid) or 0,
                              tuple(members.split(",")) if members else ()))
    return out


def _read(read_file: ReadFile, path: str) -> bytes | None:
    try:
        return read_file(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise OcixError(f"cannot read {path} in the image: {e}") from e


def _passwd(read_file: ReadFile) -> list[PasswdEntry] | None:
    data = _read(read_file, PASSWD)
    return None if data is None else parse_passwd(data)


def _groups(read_file: ReadFile) -> list[GroupEntry] | None:
    data = _read(read_file, GROUP)
    return None if data is None else parse_group(data)


class _Named(Protocol):
    @property
    def name(self) -> str: ...


E = TypeVar("E", bound=_Named)


def _by_name(entries: list[E] | None, name: str, what: str, path: str, hint: str) -> E:
    """The first entry called `name`; a UserLookupError naming `path` when there is none."""
    if entries is None:
        raise UserLookupError(f"cannot look up {what} {name!r}: the image has no {path}",
                              hint=hint)
    for e in entries:
        if e.name == name:
            return e
    raise UserLookupError(f"no {what} {name!r} in the image's {path}")


def _user_by_name(read_file: ReadFile, name: str) -> PasswdEntry:
    return _by_name(_passwd(read_file), name, "user", PASSWD, "use a numeric uid[:gid]")


def _gid_by_name(read_file: ReadFile, name: str) -> int:
    return _by_name(_groups(read_file), name, "group", GROUP, "use a numeric gid").gid


def _id_or_none(s: str) -> int | None:
    v = _go_atoi(s)
    return v if v is not None and 0 <= v <= MAX_ID else None


def resolve_uid_gid(user: str, read_file: ReadFile) -> tuple[int, int]:
    """WithUser: 'uid', 'name', 'uid:gid', 'name:group' (and mixes) -> (uid, gid)."""
    parts = user.split(":")
    if len(parts) == 1:
        uid = _id_or_none(parts[0])
        if uid is None:
            u = _user_by_name(read_file, parts[0])
            return u.uid, u.gid
        # WithUserID: the passwd entry's gid when there is one, else gid 0 (no error).
        for u in _passwd(read_file) or []:
            if u.uid == uid:
                return u.uid, u.gid
        return uid, 0
    if len(parts) == 2:
        uid_n, gid_n = _id_or_none(parts[0]), _id_or_none(parts[1])
        # A non-numeric part is a name; containerd treats an empty part as an empty name,
        # which is then never looked up and stays 0.
        uid = uid_n if uid_n is not None else 0
        gid = gid_n if gid_n is not None else 0
        if uid_n is None and parts[0]:
            uid = _user_by_name(read_file, parts[0]).uid
        if gid_n is None and parts[1]:
            gid = _gid_by_name(read_file, parts[1])
        return uid, gid
    raise UserLookupError(f"invalid USER value {user!r}: expected user[:group]")


def supplementary_gids(userstr: str, read_file: ReadFile) -> list[int]:
    """WithAdditionalGIDs before the primary gid is added: the gids of groups listing the user.

    A numeric userstr is first mapped to its name via /etc/passwd (no entry -> no groups); the
    user's own-named group is skipped, as containerd only wants supplementary groups.
    """
    name = userstr
    uid = _go_atoi(userstr)
    if uid is not None:
        match = next((u for u in _passwd(read_file) or [] if u.uid == uid), None)
        if match is None:
            return []
        name = match.name
    return [g.gid for g in _groups(read_file) or []
            if g.name != name and name in g.members]


def resolve_user(user: str | None, read_file: ReadFile) -> ResolvedUser:
    """process.user as WithImageConfig leaves it, for the image USER `user` (None/'' = root).

    containerd runs WithUser(user) then WithAdditionalGIDs(<uid>); with no USER it keeps 0:0
    and runs WithAdditionalGIDs("root"). Either way the primary gid is put first in
    additionalGids unless already there (ensureAdditionalGids).
    """
    read_file = cache(read_file)  # both steps read /etc/passwd and /etc/group: read them once
    if user:
        uid, gid = resolve_uid_gid(user, read_file)
        extra = supplementary_gids(str(uid), read_file)
    else:
        uid, gid = 0, 0
        extra = supplementary_gids("root", read_file)
    if gid not in extra:
        extra = [gid, *extra]
    return ResolvedUser(uid, gid, extra)


def path_parts(path: str) -> list[str]:
    """The components of `path`, without empty and '.' ones."""
    return [p for p in path.split("/") if p and p != "."]


def expand_link(link: Path, rest: list[str], count: int, path: str, where: str,
                max_links: int = MAX_LINKS) -> tuple[bool, list[str]]:
    """Meeting the `count`th symlink `link` while resolving `path` inside a root: whether its
    target is absolute (resolution restarts at the root) and the components left to resolve."""
    if count > max_links:
        raise OcixError(f"too many symlinks resolving {path} {where}")
    target = os.readlink(link)
    return target.startswith("/"), path_parts(target) + rest


def resolve_in_root(root: Path, path: str, max_links: int = MAX_LINKS) -> Path:
    """`path` inside the directory tree `root`, symlinks followed as if root were '/'.

    Like continuity's fs.RootPath, which containerd uses: an absolute link target or a '..'
    never leaves root, so an image's /etc/passwd -> /somewhere link stays in the image.
    """
    todo = path_parts(path)
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        here = root.joinpath(*done, part)
        if here.is_symlink():
            links += 1
            absolute, todo = expand_link(here, todo, links, path, f"in {root}", max_links)
            if absolute:
                done = []
            continue
        done.append(part)
    return root.joinpath(*done)


def rootfs_reader(root: Path) -> ReadFile:
    """A read_file callback over an unpacked or mounted rootfs directory."""
    def read(path: str) -> bytes | None:
        try:
            return resolve_in_root(root, path).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as e:
            raise OcixError(f"cannot read {path} under {root}: {e.strerror}") from e

    return read
