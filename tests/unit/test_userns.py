"""The user-namespace note `ocix kernel` prints: who uid 0 inside is on the host."""

from __future__ import annotations

from ocix.kernel.proc import IdMapping, NamespaceInfo
from ocix.kernel.userns import describe, host_uid

ROOTLESS = [IdMapping(0, 1001, 1), IdMapping(1, 100000, 65536)]
HOST = [IdMapping(0, 0, 4294967295)]


def test_host_uid_follows_the_ranges() -> None:
    assert host_uid(ROOTLESS, 0) == 1001
    assert host_uid(ROOTLESS, 1) == 100000
    assert host_uid(ROOTLESS, 65536) == 165535
    assert host_uid(ROOTLESS, 65537) is None


def test_rootless_container_is_isolated_and_powerless_outside() -> None:
    u = describe(NamespaceInfo("user", 4026532253, 4026531837), ROOTLESS, ROOTLESS, 1001)
    assert (u.isolated, u.root_on_host) == (True, 1001)
    assert u.note.startswith("user namespace isolated: uid 0 inside is uid 1001 on the host.")
    assert u.note.endswith("where this process is uid 1001 with no capabilities.")


def test_root_container_shares_the_host_user_namespace() -> None:
    u = describe(NamespaceInfo("user", 4026531837, 4026531837), HOST, HOST, 0)
    assert (u.isolated, u.root_on_host) == (False, 0)
    assert u.note == ("shares the host's user namespace: uid 0 here is uid 0 on the host, and "
                      "its capabilities act on the host (uid 0: this is root).")


def test_unreadable_links_fall_back_to_the_map() -> None:
    assert describe(NamespaceInfo("user", None, None), ROOTLESS, ROOTLESS, 1001).isolated is True
    assert describe(None, [], [], 0).isolated is None
