"""``cockpit``: the TUI, the demo, the simulator alone, a headless snapshot, and config validation.

Every error an operator can cause ends as one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from cockpit import __version__
from cockpit.config import Cluster, find_config, load_cluster
from cockpit.recording_format import RecordingError
from cockpit.yaml_source import ConfigError

DEFAULT_THEME = "cockpit-dark"
THEME_CHOICES = ("cockpit-dark", "cockpit-light", "cockpit-contrast", "cockpit-ansi")

EXIT_USAGE = 2
SCENARIO_NAMES = (
    "gpu-overheat",
    "crash-loop",
    "disk-full",
    "node-down",
    "service-down",
    "dns-down",
    "partition",
    "not-joining",
    "cost-spike",
    "k8s",
    "kv-cache",
)
"""The demo's incidents (cockpit/sim/scenarios.py); named here so --help needs no simulator import."""
PACKAGED_DEMO = Path(__file__).with_name("data") / "demo.yaml"


def _add_config(parser: argparse.ArgumentParser, sub: bool = True) -> None:
    # On subcommands the default is SUPPRESS, so `cockpit --config X snapshot` keeps X.
    parser.add_argument(
        "--config",
        default=argparse.SUPPRESS if sub else None,
        help="cluster.yaml to use (default: $COCKPIT_CONFIG, ./cluster.yaml, then XDG)",
    )


def _add_tui(parser: argparse.ArgumentParser, sub: bool = True) -> None:
    none = argparse.SUPPRESS if sub else None
    parser.add_argument("--theme", default=none, help=f"one of {', '.join(THEME_CHOICES)}")
    parser.add_argument(
        "--no-mouse",
        action="store_true",
        default=argparse.SUPPRESS if sub else False,
        help="no mouse reporting (fewer bytes)",
    )
    parser.add_argument("--refresh", type=float, default=none, help="seconds between cycles (1 to 3600)")
    parser.add_argument(
        "--read-only",
        action="store_true",
        default=argparse.SUPPRESS if sub else False,
        help="offer and run only safe actions (also read_only: true in the config)",
    )
    parser.add_argument("--record", metavar="FILE", default=none, help="also record every state to FILE")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cockpit", description="A keyboard-driven terminal cockpit for GPU clusters."
    )
    parser.add_argument("--version", action="version", version=f"cockpit {__version__}")
    _add_config(parser, sub=False)
    _add_tui(parser, sub=False)
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="start the simulated cluster and open the cockpit on it")
    _add_config(demo)
    _add_tui(demo)
    demo.add_argument(
        "--scenario", help=f"start with an incident to practise on: {', '.join(SCENARIO_NAMES)}"
    )
    sim = sub.add_parser("sim", help="run only the simulated cluster, in the foreground")
    _add_config(sim)
    snap = sub.add_parser("snapshot", help="one cycle, printed")
    _add_config(snap)
    snap.add_argument("--format", choices=("json", "table"), default="json")
    check = sub.add_parser("check", help="one cycle judged: one line per alert, Nagios exit codes")
    _add_config(check)
    check.add_argument("--only", help="comma-separated groups: nodes, gpus, containers, units, services")
    check.add_argument("--watch", type=float, metavar="N", help="repeat every N seconds")
    check.add_argument("--webhook", metavar="URL", help="POST new alerts as JSON (Slack-style text)")
    validate = sub.add_parser("validate", help="check a cluster.yaml and exit")
    validate.add_argument("path", nargs="?", help="default: the config the cockpit would use")
    action = sub.add_parser("action", help="run one action (shown, confirmed, streamed, audited)")
    _add_config(action)
    action.add_argument("name", help="the action's name, e.g. unit-restart, gpu-power-limit")
    action.add_argument("--node", help="the node it acts on (not with --pod)")
    action.add_argument("--gpu", type=int)
    action.add_argument("--container")
    action.add_argument("--unit")
    action.add_argument("--pod", metavar="NAMESPACE/NAME", help="a pod (kubectl runs where kube: says)")
    action.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="an input value")
    action.add_argument("--yes", action="store_true", help="do not ask (destructive actions too)")
    action.add_argument("--read-only", action="store_true", help="refuse anything that is not safe")
    record = sub.add_parser("record", help="poll without a screen, recording every state to FILE")
    _add_config(record)
    record.add_argument("file", help="the recording to write (gzip'd JSON lines; see `replay`)")
    record.add_argument("--cycles", type=int, metavar="N", help="stop after N cycles (default: Ctrl-C)")
    record.add_argument("--demo", action="store_true", help="record the simulated demo cluster")
    record.add_argument("--scenario", help=f"with --demo, an incident: {', '.join(SCENARIO_NAMES)}")
    record.add_argument("--force", action="store_true", help="replace FILE if it exists")
    replay = sub.add_parser("replay", help="open the cockpit on a recording (P [ ] , . + -)")
    replay.add_argument("file")
    replay.add_argument("--speed", type=float, default=1.0, help="times real time (0.1 to 256)")
    _add_tui(replay)
    init = sub.add_parser("init", help="write a starter cluster.yaml from the Host entries of ~/.ssh/config")
    init.add_argument("--yes", action="store_true", help="probe the hosts over SSH without asking")
    init.add_argument("--force", action="store_true", help="replace an existing file without asking")
    init.add_argument("--ssh-config", default="~/.ssh/config", metavar="PATH")
    init.add_argument("--output", metavar="PATH", help="default: cluster.yaml in the XDG config dir")
    init.add_argument("--name", default="my-cluster", help="the cluster's name")
    audit = sub.add_parser("audit", help="print the audit log of actions")
    audit.add_argument("--since", help="1h, 30m, 2d or an ISO date")
    audit.add_argument("--file", help="audit log to read (default: the XDG state dir's)")
    return parser


def _load(explicit: str | None, *, demo: bool = False, refresh: float | None = None) -> Cluster:
    """The config to use; ``demo`` and ``sim`` default to the embedded demo cluster."""
    path = PACKAGED_DEMO if demo and explicit is None else find_config(explicit)
    cluster = load_cluster(path)
    if refresh is not None:
        if not (math.isfinite(refresh) and 1 <= refresh <= 3600):
            raise ConfigError(f"--refresh: {refresh:g} is out of range (expected 1 to 3600 seconds)")
        cluster = cluster.model_copy(update={"refresh": refresh})
    return cluster


async def _one_cycle(cluster: Cluster):
    from cockpit.check import one_shot
    from cockpit.engine import Engine

    engine = Engine(one_shot(cluster))
    try:
        return await engine.cycle()
    finally:
        await engine.close()


def _snapshot(cluster: Cluster, fmt: str) -> int:
    from cockpit.snapshot import snapshot_json

    state = asyncio.run(_one_cycle(cluster))
    if fmt == "json":
        json.dump(snapshot_json(state), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        from cockpit.snapshot_table import print_table

        print_table(state)
    return 0


def _run_tui(cluster: Cluster, args: argparse.Namespace, *, with_sim: bool, replay: object = None) -> int:
    from cockpit.app import CockpitApp, Options
    from cockpit.prefs import Prefs

    prefs = Prefs()
    remembered = prefs.get("theme")
    theme = args.theme or (remembered if remembered in THEME_CHOICES else DEFAULT_THEME)
    if theme not in THEME_CHOICES:
        raise ConfigError(f"--theme: {theme!r} is not a theme (expected one of {', '.join(THEME_CHOICES)})")
    options = Options(theme=theme, prefs=prefs, read_only=bool(getattr(args, "read_only", False)))
    options.replay = replay  # type: ignore[assignment]
    scenario = getattr(args, "scenario", None)
    if scenario is not None and scenario not in SCENARIO_NAMES:
        raise ConfigError(
            f"--scenario: {scenario!r} is not a scenario (expected one of {', '.join(SCENARIO_NAMES)})"
        )
    if with_sim:
        cluster, options.prepare, options.after_stop = _demo_hooks(cluster, scenario)
    if getattr(args, "record", None):
        from cockpit.recording import Recorder

        options.recorder = Recorder(args.record, cluster=cluster)  # refuses an existing file
    # Fewer, larger young collections: at 2,000 x 8 each cycle replaces ~10^5 objects, and with
    # the default thresholds they were promoted into full collections that stalled the screen
    # ~0.3 s each (a synthetic 2,000 x 8 run: 2.3 s of GC over 9 states, 1.0 s with these).
    gc.set_threshold(20_000, 20, 100)
    try:
        CockpitApp(cluster, options).run(mouse=not args.no_mouse)
    finally:
        if options.recorder is not None:
            options.recorder.close()
    return 0


def _demo_hooks(cluster: Cluster, scenario: str | None):  # -> (cluster, prepare, after_stop)
    """The simulated cluster for ``demo`` and ``record --demo``: started in ``prepare`` (with the
    scenario's incident), stopped in ``after_stop``."""
    from cockpit.sim import SimCluster
    from cockpit.sim.remap import needs_remap, on_loopback

    remap = needs_remap(cluster)
    if remap:  # a real system's config: played on loopback, never connected to
        cluster = on_loopback(cluster)
    _demo_secrets()
    sim = SimCluster(cluster, ephemeral_ports=remap)

    async def start() -> Cluster:
        await sim.start()
        if scenario is not None:
            from cockpit.sim.scenarios import apply

            await apply(sim, scenario)
        return sim.effective_cluster()

    return cluster, start, sim.stop


def _record(args: argparse.Namespace) -> int:
    from cockpit.record_cli import record_cycles

    if args.cycles is not None and args.cycles < 1:
        raise ConfigError(f"--cycles: {args.cycles} is too small (expected at least 1)")
    if args.scenario is not None and not args.demo:
        raise ConfigError("--scenario: only with --demo (the simulated cluster plays the incident)")
    if args.scenario is not None and args.scenario not in SCENARIO_NAMES:
        raise ConfigError(
            f"--scenario: {args.scenario!r} is not a scenario (expected one of {', '.join(SCENARIO_NAMES)})"
        )
    cluster = _load(getattr(args, "config", None), demo=args.demo)
    prepare = after_stop = None
    if args.demo:
        cluster, prepare, after_stop = _demo_hooks(cluster, args.scenario)
    try:
        return asyncio.run(
            record_cycles(
                cluster,
                Path(args.file),
                cycles=args.cycles,
                overwrite=args.force,
                prepare=prepare,
                after_stop=after_stop,
                say=lambda line: print(line, file=sys.stderr, flush=True),
            )
        )
    except KeyboardInterrupt:
        return 0


def _replay(args: argparse.Namespace) -> int:
    from cockpit.recording import Recording
    from cockpit.replay import ReplaySource

    recording = Recording.load(args.file)
    for note in recording.notes:
        print(f"cockpit: {note}", file=sys.stderr)
    cluster = recording.cluster()
    args.read_only = True  # a replay shows the past: nothing in it may act on the present
    return _run_tui(cluster, args, with_sim=False, replay=ReplaySource(recording, speed=args.speed))


def _init(args: argparse.Namespace) -> int:
    from cockpit.init_config import default_config_path, run_init

    def ask(question: str) -> bool:
        if not sys.stdin.isatty():
            return False  # never overwrite, never connect, without a person saying so
        try:
            return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
        except EOFError:
            return False

    return asyncio.run(
        run_init(
            ssh_config=Path(args.ssh_config).expanduser(),
            dest=Path(args.output).expanduser() if args.output else default_config_path(),
            probe=True if args.yes else None,
            force=args.force,
            ask=ask,
            say=lambda line: print(line, file=sys.stderr),
            cluster_name=args.name,
        )
    )


def _demo_secrets() -> None:
    """The simulated cloud API's key, for this process only (the demo's config references it)."""
    import os

    from cockpit.sim.remap import DEMO_KEY_ENV
    from cockpit.sim.vast import SIM_API_KEY

    os.environ[DEMO_KEY_ENV] = SIM_API_KEY


def _run_sim(cluster: Cluster) -> int:
    from cockpit.sim import serve_forever

    try:
        asyncio.run(serve_forever(cluster))
    except KeyboardInterrupt:
        pass
    return 0


def _check(args: argparse.Namespace) -> int:
    """Nagios conventions throughout: a problem with the check itself is UNKNOWN (3)."""
    from cockpit.check import GROUPS, UNKNOWN, run_check

    try:
        cluster = _load(args.config)
    except ConfigError as exc:
        print(exc.line, file=sys.stderr)
        return UNKNOWN
    only = {g.strip() for g in args.only.split(",") if g.strip()} if args.only else None
    if only and not only <= set(GROUPS):
        print(
            f"--only: {','.join(sorted(only - set(GROUPS)))} (expected {', '.join(GROUPS)})", file=sys.stderr
        )
        return UNKNOWN
    if args.watch is not None and args.watch < 1:
        print(f"--watch: {args.watch:g} is too small (expected at least 1)", file=sys.stderr)
        return UNKNOWN
    on_new = None
    if args.webhook:
        from cockpit.webhook import poster

        on_new = poster(args.webhook, cluster.cluster, lambda line: print(line, file=sys.stderr))
    try:
        return asyncio.run(
            run_check(cluster, only, lambda line: print(line, flush=True), watch=args.watch, on_new=on_new)
        )
    except KeyboardInterrupt:
        return 0


def _action(args: argparse.Namespace) -> int:
    from cockpit.action_cli import Request, parse_inputs, run_action

    cluster = _load(getattr(args, "config", None))
    try:
        inputs = parse_inputs(args.set)
    except ValueError as exc:
        print(f"cockpit action: {exc}", file=sys.stderr)
        return EXIT_USAGE
    request = Request(
        args.name,
        args.node,
        args.gpu,
        args.container,
        args.unit,
        inputs,
        yes=args.yes,
        read_only=args.read_only,
        pod=args.pod,
    )
    return asyncio.run(run_action(cluster, request))


def _audit(args: argparse.Namespace) -> int:
    from cockpit.actions.audit import format_records, parse_since, read_records

    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as exc:
        print(f"--since: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for line in format_records(read_records(Path(args.file) if args.file else None, since=since)):
        print(line)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check":
        return _check(args)
    try:
        if args.command == "validate":
            path = args.path or find_config(getattr(args, "config", None))
            cluster = load_cluster(path)
            print(f"{path}: ok ({len(cluster.nodes)} nodes)")
            return 0
        if args.command == "audit":
            return _audit(args)
        if args.command == "record":
            return _record(args)
        if args.command == "replay":
            return _replay(args)
        if args.command == "init":
            return _init(args)
        if args.command == "action":
            return _action(args)
        if args.command == "snapshot":
            return _snapshot(_load(args.config), args.format)
        if args.command == "sim":
            return _run_sim(_load(args.config, demo=True))
        demo = args.command == "demo"
        cluster = _load(args.config, demo=demo, refresh=getattr(args, "refresh", None))
        return _run_tui(cluster, args, with_sim=demo)
    except ConfigError as exc:
        print(exc.line, file=sys.stderr)
        return EXIT_USAGE
    except (*_sim_errors(), RecordingError) as exc:
        print(f"cockpit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"cockpit: {exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}", file=sys.stderr)
        return EXIT_USAGE


def _sim_errors() -> tuple[type[Exception], ...]:
    """The simulator's error, if it ran: importing it for this ``except`` alone would load the
    simulator and the SSH stack into every cockpit."""
    server = sys.modules.get("cockpit.sim.server")
    return (server.SimError,) if server is not None else ()


if __name__ == "__main__":
    raise SystemExit(main())
