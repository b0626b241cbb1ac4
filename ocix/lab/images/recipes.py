"""The images the lab seeds its registry with, built from files on this machine.

Names follow Docker Hub's official images (`library/...`) so the lab registry can stand in for
docker.io. Nothing is downloaded: busybox and catatonit are this machine's static binaries.
"""

from __future__ import annotations

import json
import posixpath
import random
import subprocess
from pathlib import Path
from typing import Literal

from ...errors import FailedPreconditionError
from ...oci.descriptor import Platform
from ...oci.platform import host as host_platform
from .build import (
    DESCRIPTION,
    BuiltImage,
    Data,
    Dir,
    Entry,
    File,
    Hardlink,
    HostFile,
    ImageConfig,
    ImageSpec,
    LayerSpec,
    Opaque,
    PlatformImage,
    RandomBytes,
    Symlink,
    Whiteout,
    build_image,
)

BUSYBOX = Path("/bin/busybox")
CATATONIT = Path("/usr/bin/catatonit")
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
EXPECT_LABEL = "org.ocix.lab.expect"
TEST_CONTENT = "test content: not a runnable arm64 image"
LARGE_BIG_FILE_MIB = 192
LARGE_DIRS, LARGE_FILES_PER_DIR = 50, 100

_ELF_MACHINES = {3: "386", 40: "arm", 62: "amd64", 183: "arm64", 243: "riscv64"}


def elf_info(path: Path) -> tuple[str, bool]:
    """(architecture, is_static) of an ELF executable: static = no PT_INTERP program header."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF":
            raise FailedPreconditionError(f"{path} is not an ELF executable")
        is64 = head[4] == 2
        order: Literal["little", "big"] = "little" if head[5] == 1 else "big"
        machine = int.from_bytes(head[18:20], order)

        def num(off: int, n: int) -> int:
            return int.from_bytes(head[off:off + n], order)

        phoff, phentsize, phnum = ((num(32, 8), num(54, 2), num(56, 2)) if is64
                                   else (num(28, 4), num(42, 2), num(44, 2)))
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    types = [int.from_bytes(table[i * phentsize:i * phentsize + 4], order) for i in range(phnum)]
    return _ELF_MACHINES.get(machine, f"elf-{machine}"), 3 not in types  # 3 = PT_INTERP


def _static_binary(path: Path, package: str) -> str:
    if not path.exists():
        raise FailedPreconditionError(f"{path} is missing", hint=f"install {package}")
    arch, static = elf_info(path)
    if not static:
        raise FailedPreconditionError(f"{path} is dynamically linked: it cannot run in a "
                                      "scratch image", hint=f"install {package}")
    return arch


_applets: dict[tuple[str, int], list[str]] = {}


def busybox_applets(binary: Path = BUSYBOX) -> list[str]:
    """Applet install paths (e.g. usr/bin/awk) from `busybox --list-full`."""
    key = (str(binary), binary.stat().st_mtime_ns)
    if key not in _applets:
        out = subprocess.run([str(binary), "--list-full"], capture_output=True, text=True,
                             check=True, timeout=30).stdout
        _applets[key] = sorted({p.strip().lstrip("/") for p in out.splitlines()
                                if "/" in p.strip() and p.strip() != "bin/busybox"})
    return _applets[key]


def _relative(link: str, target: str) -> str:
    # Relative so an unpacked rootfs on the host never points at the host's own /bin/busybox.
    return posixpath.relpath(target, posixpath.dirname(link))


def busybox_layer(binary: Path = BUSYBOX) -> LayerSpec:
    _static_binary(binary, "busybox-static")
    entries: list[Entry] = [
        File("bin/busybox", HostFile(binary), 0o755),
        Dir("tmp", 0o1777), Dir("var/tmp", 0o1777), Dir("root", 0o700),
        Dir("home/ocix", 0o755, 1000, 1000),
        Dir("proc", 0o555), Dir("sys", 0o555), Dir("dev"), Dir("etc"), Dir("usr/local/bin"),
        File("etc/passwd", Data(b"root:x:0:0:root:/root:/bin/sh\n"
                                b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
                                b"ocix:x:1000:1000:ocix lab user:/home/ocix:/bin/sh\n")),
        File("etc/group", Data(b"root:x:0:\nnobody:x:65534:\nocix:x:1000:\n")),
    ]
    entries += [Symlink(a, _relative(a, "bin/busybox")) for a in busybox_applets(binary)]
    return LayerSpec(tuple(entries), created_by=f"ocix lab: {binary} and its applet links")


def _busybox_config(**labels: str) -> ImageConfig:
    return ImageConfig(env=(PATH_ENV,), cmd=("sh",), labels=dict(labels))


def busybox() -> ImageSpec:
    arch = _static_binary(BUSYBOX, "busybox-static")
    plat = Platform("linux", arch)
    return ImageSpec("library/busybox", "latest",
                     (PlatformImage(plat, (busybox_layer(),), _busybox_config()),),
                     description=f"busybox from this machine's {BUSYBOX}")


# What `library/layers` must look like once unpacked (also in its config label EXPECT_LABEL).
LAYERS_EXPECT: dict[str, object] = {
    "files": {
        "/data/keep.txt": "kept from layer 2\n",
        "/data/change.txt": "version 3 (layer 4)\n",
        "/data/opaque/new.txt": "new in layer 3, the only file left in an opaque dir\n",
        "/data/added.txt": "added in layer 3\n",
        "/data/readd/b.txt": "dir deleted in layer 3, re-created in layer 4\n",
        "/data/hard.txt": "one inode, two names\n",
        "/data/hard-link.txt": "one inode, two names\n",
        "/data/run.sh": "#!/bin/sh\necho layers-ok\n",
    },
    "absent": ["/data/delete.txt", "/data/gone", "/data/opaque/old1.txt",
               "/data/opaque/old2.txt", "/data/readd/a.txt", "/data/temp.txt", "/usr/bin/wc"],
    "symlinks": {"/data/link-to-keep": "keep.txt"},
    "hardlinks": [["/data/hard.txt", "/data/hard-link.txt"]],
    "executable": ["/data/run.sh"],
}


def layers() -> ImageSpec:
    files = LAYERS_EXPECT["files"]
    assert isinstance(files, dict)

    def text(path: str) -> Data:
        return Data(str(files["/" + path]).encode())

    add = LayerSpec((
        File("data/keep.txt", text("data/keep.txt")),
        File("data/change.txt", Data(b"version 1 (layer 2)\n")),
        File("data/delete.txt", Data(b"deleted in layer 3\n")),
        File("data/gone/x.txt", Data(b"whole dir deleted in layer 3\n")),
        File("data/gone/sub/y.txt", Data(b"whole dir deleted in layer 3\n")),
        File("data/opaque/old1.txt", Data(b"hidden by the opaque dir of layer 3\n")),
        File("data/opaque/old2.txt", Data(b"hidden by the opaque dir of layer 3\n")),
        File("data/readd/a.txt", Data(b"deleted with its dir in layer 3\n")),
    ), created_by="ocix lab: layer 2 adds /data")
    change = LayerSpec((
        File("data/change.txt", Data(b"version 2 (layer 3)\n")),
        Whiteout("data/delete.txt"),
        Whiteout("data/gone"),
        Opaque("data/opaque"),
        File("data/opaque/new.txt", text("data/opaque/new.txt")),
        Whiteout("data/readd"),
        File("data/added.txt", text("data/added.txt")),
        File("data/temp.txt", Data(b"added in layer 3, deleted in layer 4\n")),
        Symlink("data/link-to-keep", "keep.txt"),
        File("data/hard.txt", text("data/hard.txt")),
        Hardlink("data/hard-link.txt", "data/hard.txt"),
        Whiteout("usr/bin/wc"),  # a file of the base layer
    ), created_by="ocix lab: layer 3 changes, deletes, makes /data/opaque opaque")
    last = LayerSpec((
        File("data/change.txt", text("data/change.txt")),
        File("data/readd/b.txt", text("data/readd/b.txt")),
        Whiteout("data/temp.txt"),
        File("data/run.sh", text("data/run.sh"), 0o755),
    ), created_by="ocix lab: layer 4 re-creates /data/readd, deletes a layer 3 file")
    arch = _static_binary(BUSYBOX, "busybox-static")
    cfg = _busybox_config(**{EXPECT_LABEL: json.dumps(LAYERS_EXPECT, sort_keys=True)})
    return ImageSpec("library/layers", "latest", (
        PlatformImage(Platform("linux", arch), (busybox_layer(), add, change, last), cfg),),
        description="busybox plus three layers that add, change and delete files")


def multiarch() -> ImageSpec:
    arch = _static_binary(BUSYBOX, "busybox-static")
    other = "arm64" if arch != "arm64" else "amd64"
    note = TEST_CONTENT.replace("arm64", other)
    fake = LayerSpec((File("README.txt", Data(
        f"ocix lab {note}.\nThis manifest exists so index platform selection can be tested.\n"
        .encode())),), created_by="ocix lab: test content")
    return ImageSpec("library/multiarch", "latest", (
        PlatformImage(Platform("linux", arch), (busybox_layer(),), _busybox_config()),
        PlatformImage(Platform("linux", other), (fake,),
                      ImageConfig(cmd=("/README.txt",), labels={DESCRIPTION: note}),
                      annotations={DESCRIPTION: note}),
    ), description=f"an index: linux/{arch} runs busybox, linux/{other} is {note}", index=True)


def pause() -> ImageSpec:
    """The CRI sandbox image: catatonit in pause mode (-P: no program, exits on SIGINT/SIGTERM)."""
    arch = _static_binary(CATATONIT, "catatonit")
    layer = LayerSpec((File("catatonit", HostFile(CATATONIT), 0o755),),
                      created_by=f"ocix lab: {CATATONIT}")
    cfg = ImageConfig(entrypoint=("/catatonit", "-P"), user="65535:65535", working_dir="/")
    return ImageSpec("library/pause", "3.6", (PlatformImage(Platform("linux", arch), (layer,), cfg),),
                     description=f"pause image: this machine's {CATATONIT} -P")


def _small_files(seed: int) -> list[Entry]:
    rng = random.Random(seed)
    words = [f"w{rng.randrange(10**6):06d}" for _ in range(400)]
    out: list[Entry] = []
    for d in range(LARGE_DIRS):
        for i in range(LARGE_FILES_PER_DIR):
            n = rng.randrange(64, 600)
            body = " ".join(rng.choices(words, k=n)) + "\n"
            out.append(File(f"data/small/d{d:02d}/f{i:03d}.txt", Data(body.encode())))
    return out


def large(seed: int = 20240101) -> ImageSpec:
    """~200 MiB compressed in 4 layers: busybox, 5000 small files, one random file, deletions."""
    arch = _static_binary(BUSYBOX, "busybox-static")
    small = LayerSpec(tuple(_small_files(seed)), created_by="ocix lab: 5000 small text files")
    big = LayerSpec((File("data/big.bin", RandomBytes(seed, LARGE_BIG_FILE_MIB << 20)),),
                    created_by=f"ocix lab: {LARGE_BIG_FILE_MIB} MiB of seeded random bytes",
                    compresslevel=0)
    deletions: list[Entry] = [Whiteout(f"data/small/d{d:02d}") for d in range(5)]
    deletions += [Whiteout(f"data/small/d{d:02d}/f{i:03d}.txt")
                  for d in range(5, LARGE_DIRS) for i in range(0, LARGE_FILES_PER_DIR, 10)]
    deletions += [File(f"data/small/d{d:02d}/f001.txt", Data(b"changed in layer 4\n"))
                  for d in range(5, LARGE_DIRS)]
    last = LayerSpec(tuple(deletions), created_by="ocix lab: delete 5 dirs and 450 files")
    return ImageSpec("library/large", "latest", (PlatformImage(
        Platform("linux", arch), (busybox_layer(), small, big, last), _busybox_config()),),
        description="benchmark: 5000 small files, one incompressible "
                    f"{LARGE_BIG_FILE_MIB} MiB file, whiteouts")


def sized(mib: int) -> ImageSpec:
    """A single layer holding /blob.bin: `mib` MiB of seeded random bytes (not runnable)."""
    if mib <= 0:
        raise FailedPreconditionError(f"a sized image needs a positive size, got {mib}")
    layer = LayerSpec((File("blob.bin", RandomBytes(mib, mib << 20)),),
                      created_by=f"ocix lab: {mib} MiB of seeded random bytes", compresslevel=0)
    return ImageSpec(f"library/blob{mib}", "latest",
                     (PlatformImage(host_platform(), (layer,)),),
                     description=f"benchmark: one layer of {mib} MiB of incompressible data")


def seed_specs(*, large_image: bool = False, sizes: tuple[int, ...] = ()) -> list[ImageSpec]:
    specs = [busybox(), layers(), multiarch(), pause()]
    if large_image:
        specs.append(large())
    specs += [sized(m) for m in sizes]
    return specs


def seed_images(layout: Path, *, large: bool = False, sized: tuple[int, ...] = ()
                ) -> list[BuiltImage]:
    """Build (or find in the layout's cache) every seed image; benchmark ones only on request."""
    specs = seed_specs(large_image=large, sizes=tuple(dict.fromkeys(sized)))
    return [build_image(Path(layout), spec) for spec in specs]
