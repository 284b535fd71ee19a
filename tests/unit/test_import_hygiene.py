"""The headless packages must run without Textual (check, snapshot, benchmarks, cron)."""

from __future__ import annotations

import json
import subprocess
import sys

HEADLESS = [
    "cockpit.model",
    "cockpit.config",
    "cockpit.sources.ssh",
    "cockpit.sources.probes",
    "cockpit.engine",
    "cockpit.state",
    "cockpit.rules",
    "cockpit.snapshot",
    "cockpit.sim",
    "cockpit.actions.catalog",
    "cockpit.actions.runner",
    "cockpit.actions.audit",
    "cockpit.sources.http",
    "cockpit.sources.containers",
    "cockpit.service_graph",
    "cockpit.query",
    "cockpit.commands",
    "cockpit.prefs",
    "cockpit.recording",
    "cockpit.replay",
    "cockpit.init_config",
    "cockpit.fleet_reader",
    "cockpit.action_cli",
    "widgets.rows",
    "widgets.workload_rows",
    "widgets.detail_rows",
    "widgets.row_set",
    "widgets.table_model",
    "widgets.format",
]


def test_headless_modules_import_no_textual() -> None:
    code = (
        "import json, sys\n"
        f"for name in {HEADLESS!r}: __import__(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_the_app_does_import_textual() -> None:
    """Guards the test above against passing vacuously (e.g. a broken subprocess)."""
    code = "import sys, cockpit.app; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
