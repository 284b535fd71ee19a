"""Actions: the one way back to the cluster, as data (catalog), rendered with quoting (render), run
and streamed over the node's SSH connection (runner), and recorded before and after (audit).

Kept import-light on purpose: :mod:`cockpit.config` builds its ``Cluster`` on
:class:`cockpit.actions.schema.ActionConfig`, and the schema builds on config's ``Strict``. Loading
config first here makes either import order work; importing the runner here would not.
"""

from __future__ import annotations

import cockpit.config  # noqa: F401  (see above: config must be loaded before the schema)
