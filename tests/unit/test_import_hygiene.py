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


def test_a_cockpit_that_reads_only_prometheus_never_loads_the_ssh_stack(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """asyncssh and its cryptography (~15 MB) load at the first SSH connection or action, not
    with the app: a Prometheus-only cockpit at 16,000 GPUs is measured against 300 MB."""
    config = tmp_path / "cluster.yaml"
    config.write_text("cluster: prom\nprometheus:\n  url: http://127.0.0.1:9\n  discover: {job: node}\n")
    code = (
        "import json, sys\n"
        "import cockpit.cli, cockpit.app\n"
        "from cockpit.app import CockpitApp, Options\n"
        "from cockpit.config import load_cluster\n"
        "from cockpit.engine import Engine\n"
        f"cluster = load_cluster({str(config)!r})\n"
        "CockpitApp(cluster, Options(start_engine=False)); Engine(cluster)\n"
        "print(json.dumps([m for m in sys.modules if m.startswith('asyncssh.') or m.startswith('cryptography')]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_a_lazy_module_loads_at_its_first_use_and_is_the_module() -> None:
    code = (
        "import json, sys\n"
        "from cockpit.lazy_import import lazy_import\n"
        "csv = lazy_import('csv')\n"
        "before = '_csv' in sys.modules\n"
        "reader = csv.reader\n"
        "import csv as real\n"
        "print(json.dumps([before, '_csv' in sys.modules, real is csv, lazy_import('csv') is csv]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [False, True, True, True]
