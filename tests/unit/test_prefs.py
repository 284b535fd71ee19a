"""The theme and history survive a restart; a damaged or unwritable file never stops the cockpit."""

from __future__ import annotations

import stat

from cockpit.prefs import Prefs


def test_values_survive_a_new_instance_with_private_permissions(tmp_path) -> None:
    path = tmp_path / "state" / "prefs.json"
    Prefs(path).set("theme", "cockpit-ansi")
    assert Prefs(path).get("theme") == "cockpit-ansi"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_damaged_file_reads_as_empty(tmp_path) -> None:
    path = tmp_path / "prefs.json"
    path.write_text("{not json")
    assert Prefs(path).get("theme", "default") == "default"
    path.write_text("[1, 2]")
    assert Prefs(path).get("theme") is None


def test_an_unwritable_dir_is_not_an_error(tmp_path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    prefs = Prefs(blocked / "prefs.json")
    prefs.set("theme", "x")  # the parent is a file: cannot be created
    assert prefs.get("theme") == "x"
