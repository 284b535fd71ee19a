"""cockpit.sim is the far side of the wire: it imports only model and config of ours, never Textual."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

SIM = Path(__file__).resolve().parents[2] / "cockpit" / "sim"


def test_sim_sources_import_only_model_config_and_sim() -> None:
    bad = []
    for path in SIM.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                ours = name == "cockpit" or name.startswith("cockpit.")
                if ours and not name.startswith(("cockpit.sim", "cockpit.config", "cockpit.model")):
                    bad.append(f"{path.name}: {name}")
                if name.split(".")[0] == "textual":
                    bad.append(f"{path.name}: {name}")
    assert bad == []


def test_importing_the_sim_loads_no_textual_and_no_sources() -> None:
    code = (
        "import json, sys; import cockpit.config; before = set(sys.modules); import cockpit.sim; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    new = json.loads(
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    )
    assert any(m == "cockpit.sim.server" for m in new)
    assert [m for m in new if m.startswith(("textual", "cockpit.sources", "cockpit.engine"))] == []
    assert [
        m for m in new if m.startswith("cockpit.") and not m.startswith(("cockpit.sim", "cockpit.model"))
    ] == []
