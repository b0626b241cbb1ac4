"""History entries mapped to layers: `empty_layer` steps made none."""

from __future__ import annotations

from ocix.jobs.store.anatomy import created_by, history_layers

CONFIG = {"history": [
    {"created_by": "ADD rootfs.tar /"},
    {"created_by": "ENV PATH=/bin", "empty_layer": True},
    {"created_by": "RUN make"},
    {"created_by": "CMD [\"sh\"]", "empty_layer": True},
    {"created_by": "COPY app /app"},
]}


def test_empty_layer_entries_have_no_layer() -> None:
    assert history_layers(CONFIG, 3) == [0, None, 1, None, 2]
    assert created_by(CONFIG, 3) == ["ADD rootfs.tar /", "RUN make", "COPY app /app"]


def test_history_longer_or_shorter_than_the_layers() -> None:
    assert history_layers(CONFIG, 2) == [0, None, 1, None, None]  # more history than layers
    assert created_by({"history": [{"created_by": "only one"}]}, 3) == ["only one", "", ""]
    assert created_by({}, 2) == ["", ""]
    assert history_layers({"history": ["junk", {"empty_layer": True}]}, 1) == [0, None]
