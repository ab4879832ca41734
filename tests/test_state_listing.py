"""state.load with a folder listing (what `wrap status` does for thousands of accounts): every
file's state is found, whatever its name, and none is taken for another file's."""

from __future__ import annotations

from pathlib import Path

import pytest

from launcher import state

NAMES = [
    "plain.json",
    ".credentials.json",
    "with-dashes-in-it.json",
    "spaces and ümlauts.json",
    "a" * 60 + ".json",
    "no-extension",
]


@pytest.mark.parametrize("name", NAMES)
def test_a_listed_state_is_found_under_any_file_name(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "accounts"
    folder.mkdir()
    path = str(folder / name)
    sibling = str(folder / ("x" + name))
    st = state.CredState(path)
    st.refresh_count = 7
    state_dir = str(tmp_path / "state")
    state.save(state_dir, st)
    listed = state.listing(state_dir)
    assert listed
    assert state.load(state_dir, path, resolved=True, listed=listed).refresh_count == 7
    assert state.load(state_dir, sibling, resolved=True, listed=listed).refresh_count == 0
    # The same answers without a listing: every file is tried.
    assert state.load(state_dir, path, resolved=True).refresh_count == 7
