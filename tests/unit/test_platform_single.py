"""--platform against a single manifest: its config's os/architecture/variant decide, with the
same compatibility containerd's matcher has (amd64 runs 386, arm64 runs arm v8 ...)."""

from __future__ import annotations

import pytest

from ocix.errors import NotFoundError
from ocix.oci.platform import refuse_other_platform

AMD64 = {"os": "linux", "architecture": "amd64"}
ARM64 = {"os": "linux", "architecture": "arm64", "variant": "v8"}


@pytest.mark.parametrize(("config", "platform"), [(AMD64, "linux/amd64"), (AMD64, "amd64"),
                                                  (ARM64, "linux/arm64"), (ARM64, "linux/arm64/v8"),
                                                  ({}, "linux/s390x")])  # no os: nothing to judge
def test_its_own_platform_passes(config: dict[str, object], platform: str) -> None:
    refuse_other_platform("img", config, platform)


@pytest.mark.parametrize(("config", "platform", "have"), [
    (AMD64, "linux/s390x", "linux/amd64"), (AMD64, "linux/arm64", "linux/amd64"),
    (ARM64, "linux/amd64", "linux/arm64/v8"), ({**AMD64, "os": "windows"}, "linux/amd64",
                                               "windows/amd64")])
def test_another_platform_is_refused(config: dict[str, object], platform: str, have: str) -> None:
    with pytest.raises(NotFoundError) as e:
        refuse_other_platform("r/img:1", config, platform)
    assert e.value.message == f"image r/img:1 is a single {have} manifest: no manifest for {platform}"
