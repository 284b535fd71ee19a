"""How the docker CLI prints containers: ``docker ps`` fields and tables, ``docker inspect``.

Ported from docker/cli's formatter package: ``ContainerContext`` (12-hex ids unless --no-trunc,
commands quoted with strconv.Quote and cut to 20 columns with "…", Labels sorted and comma-joined,
``Ports`` grouped as DisplayablePorts does), the ``{{json .}}`` object (keys sorted, <>& escaped as
json.Marshal does), text/tabwriter with minwidth 10 and padding 3, and the Engine API's inspect
object in the daemon's key order.
"""

from __future__ import annotations

import ipaddress
import json
import time

from cockpit.sim.gotemplate import GoStruct, go_json
from cockpit.sim.gounits import human_duration
from cockpit.sim.noise import hash_hex
from cockpit.sim.services_catalog import APPDATA, COMPOSE_VERSION, ContainerSpec
from cockpit.sim.services_world import Container, ContainerView

HEADERS = {
    "ID": "CONTAINER ID", "Names": "NAMES", "Image": "IMAGE", "Command": "COMMAND",
    "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE",
    "Status": "STATUS", "Size": "SIZE", "Labels": "LABELS", "Mounts": "MOUNTS",
    "LocalVolumes": "LOCAL VOLUMES", "Networks": "NETWORKS",
}  # fmt: skip
DEFAULT_TABLE = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
)


def ellipsis(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def go_quote(text: str) -> str:
    """strconv.Quote: Go-escaped, printable runes (and "…") kept as they are."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def go_time(t: float) -> str:
    """Go's ``time.Time.String()`` in UTC, seconds only (what ``CreatedAt`` prints)."""
    return time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(t))


def rfc3339nano(t: float | None) -> str:
    """time.RFC3339Nano as the daemon writes it (trailing zeros of the fraction dropped)."""
    if t is None:
        return "0001-01-01T00:00:00Z"
    nanos = f"{round(t % 1 * 1e9) % 1_000_000_000:09d}".rstrip("0")
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + (f".{nanos}" if nanos else "") + "Z"


def port_entries(spec: ContainerSpec) -> list[tuple[str, int, int, str]]:
    """(ip, private, public, type) as the Engine API lists them; "" ip for unpublished ports."""
    out = [(ip, cont, host, "tcp") for host, cont in spec.ports for ip in ("0.0.0.0", "::")]
    return out + [("", p, 0, "tcp") for p in spec.exposed]


def _ip_key(ip: str) -> tuple[int, int]:
    if not ip:
        return (0, 0)
    addr = ipaddress.ip_address(ip)
    return (addr.version, int(addr))


def displayable_ports(entries: list[tuple[str, int, int, str]]) -> str:
    """docker/cli DisplayablePorts: consecutive ports grouped, host mappings last."""
    entries = sorted(entries, key=lambda p: (p[1], _ip_key(p[0]), p[2], p[3]))
    groups: dict[str, list[int]] = {}
    order: list[str] = []
    result: list[str] = []
    mappings: list[str] = []
    for ip, private, public, kind in entries:
        key = kind
        if ip:
            if public != private:
                host = f"[{ip}]" if ":" in ip else ip
                mappings.append(f"{host}:{public}->{private}/{kind}")
                continue
            key = f"{ip}/{kind}"
        group = groups.get(key)
        if group is None:
            groups[key] = [private, private]
            order.append(key)
        elif private == group[1] + 1:
            group[1] = private
        else:
            result.append(_form_group(key, *group))
            groups[key] = [private, private]
    result += [_form_group(k, *groups[k]) for k in order]
    return ", ".join(result + mappings)


def _form_group(key: str, first: int, last: int) -> str:
    ip, _, kind = key.rpartition("/")
    group = str(first) if first == last else f"{first}-{last}"
    if ip:
        host = f"[{ip}]" if ":" in ip else ip
        group = f"{host}:{group}->{group}"
    return f"{group}/{kind}"


def working_dir(spec: ContainerSpec, unraid: bool) -> str:
    return f"{APPDATA if unraid else '/opt'}/{spec.project}"


def labels(c: Container, key: int, unraid: bool) -> dict[str, str]:
    """The container's labels: compose's bookkeeping for project containers, plus the image's."""
    spec = c.spec
    out = dict(spec.image_labels)
    if spec.project:
        wd = working_dir(spec, unraid)
        out |= {
            "com.docker.compose.config-hash": hash_hex(64, key, len(spec.name), 3),
            "com.docker.compose.container-number": "1",
            "com.docker.compose.depends_on": ",".join(f"{d}:service_started:false" for d in spec.depends_on),
            "com.docker.compose.image": "sha256:" + image_id(spec, key),
            "com.docker.compose.oneoff": "False",
            "com.docker.compose.project": spec.project,
            "com.docker.compose.project.config_files": f"{wd}/docker-compose.yml",
            "com.docker.compose.project.working_dir": wd,
            "com.docker.compose.service": spec.service or spec.name,
            "com.docker.compose.version": COMPOSE_VERSION,
        }
    return dict(sorted(out.items()))


def image_id(spec: ContainerSpec, key: int) -> str:
    return hash_hex(64, key, sum(map(ord, spec.image)), 11)


def network(spec: ContainerSpec) -> str:
    return f"{spec.project}_default" if spec.project else "bridge"


class ContainerContext(GoStruct):
    """What a ``docker ps --format`` template sees for one container."""

    go_type = "*formatter.ContainerContext"

    def __init__(self, c: Container, view: ContainerView, now: float, trunc: bool, key: int, unraid: bool):
        self.c, self.view, self.now, self.trunc = c, view, now, trunc
        self.labels = labels(c, key, unraid)

    def fields(self) -> dict[str, str]:
        spec = self.c.spec
        mounts = [v for v, _ in spec.volumes] + [src for src, _ in spec.binds]
        return {
            "Command": go_quote(ellipsis(spec.command, 20) if self.trunc else spec.command),
            "CreatedAt": go_time(self.c.created),
            "ID": self.c.id[:12] if self.trunc else self.c.id,
            "Image": spec.image,
            "Labels": ",".join(sorted(f"{k}={v}" for k, v in self.labels.items())),
            "LocalVolumes": str(len(spec.volumes)),
            "Mounts": ",".join(ellipsis(m, 15) if self.trunc else m for m in mounts),
            "Names": spec.name,
            "Networks": network(spec),
            "Ports": displayable_ports(port_entries(spec)),
            "RunningFor": human_duration(self.now - self.c.created) + " ago",
            "Size": "0B",
            "State": self.view.state,
            "Status": self.view.status,
        }

    def go_field(self, name: str, args: list[object]) -> object:
        if name == "Label":
            return self.labels.get(str(args[0]), "") if args else ""
        return self.fields()[name]

    def go_json(self) -> str:
        return go_json(self.fields(), escape_html=True)


class HeaderContext(GoStruct):
    """The header row of a table: each field prints its column title; ``.Label "a.b-c"`` prints
    "b c" (the label's last dotted part), as docker's SubHeaderContext does."""

    go_type = "formatter.SubHeaderContext"

    def go_field(self, name: str, args: list[object]) -> object:
        if name == "Label":
            return str(args[0]).split(".")[-1].replace("-", " ").replace("_", " ") if args else ""
        return HEADERS.get(name, "")


HEADER_FUNCS = {
    name: (lambda v, *_: v) for name in ("json", "split", "join", "title", "lower", "upper", "truncate")
}
"""docker's HeaderFunctions: the header keeps column titles as they are."""


def tabwrite(lines: list[str], minwidth: int = 10, padding: int = 3) -> str:
    """Go's text/tabwriter (flags 0): tab-terminated cells padded to their column's width."""
    rows = [line.split("\t") for line in lines]
    widths: dict[int, int] = {}
    for cells in rows:
        for i, cell in enumerate(cells[:-1]):
            widths[i] = max(widths.get(i, minwidth), len(cell) + padding)
    return "".join("".join(c.ljust(widths[i]) for i, c in enumerate(r[:-1])) + r[-1] + "\n" for r in rows)


def inspect_object(c: Container, view: ContainerView, key: int, unraid: bool) -> dict[str, object]:
    """``GET /containers/{id}/json``, in the daemon's key order."""
    spec, cid = c.spec, c.id
    base = f"/var/lib/docker/containers/{cid}"
    path, *args = spec.command.split()
    ports = {f"{p}/tcp": [{"HostIp": "", "HostPort": str(h)}] for h, p in spec.ports}
    binds = [f"{src}:{dst}:rw" for src, dst in spec.binds] + [f"{v}:{dst}:rw" for v, dst in spec.volumes]
    mounts = [
        {"Type": "bind", "Source": src, "Destination": dst, "Mode": "rw", "RW": True, "Propagation": "rprivate"}
        for src, dst in spec.binds
    ] + [
        {"Type": "volume", "Name": v, "Source": f"/var/lib/docker/volumes/{v}/_data", "Destination": dst,
         "Driver": "local", "Mode": "rw", "RW": True, "Propagation": ""}
        for v, dst in spec.volumes
    ]  # fmt: skip
    state: dict[str, object] = {
        "Status": view.state, "Running": view.running, "Paused": False,
        "Restarting": view.state == "restarting", "OOMKilled": False, "Dead": False, "Pid": view.pid,
        "ExitCode": view.exit_code, "Error": "", "StartedAt": rfc3339nano(view.started_at),
        "FinishedAt": rfc3339nano(view.finished_at),
    }  # fmt: skip
    if view.health:
        state["Health"] = {"Status": view.health, "FailingStreak": 0, "Log": []}
    gpus = [{"Driver": "nvidia", "Count": 0, "DeviceIDs": [str(spec.gpu)], "Capabilities": [["gpu"]],
             "Options": {}}] if spec.gpu is not None else None  # fmt: skip
    net = network(spec)
    ip = f"172.{18 if spec.project else 17}.0.{2 + sum(map(ord, spec.name)) % 200}" if view.running else ""
    return {
        "Id": cid, "Created": rfc3339nano(c.created), "Path": path, "Args": args, "State": state,
        "Image": "sha256:" + image_id(spec, key), "ResolvConfPath": f"{base}/resolv.conf",
        "HostnamePath": f"{base}/hostname", "HostsPath": f"{base}/hosts", "LogPath": f"{base}/{cid}-json.log",
        "Name": "/" + spec.name, "RestartCount": view.restart_count,
        "Driver": "btrfs" if unraid else "overlay2", "Platform": "linux", "MountLabel": "",
        "ProcessLabel": "", "AppArmorProfile": "" if unraid else "docker-default", "ExecIDs": None,
        "HostConfig": {
            "Binds": binds or None, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}},
            "NetworkMode": net, "PortBindings": ports,
            "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0}, "AutoRemove": False,
            "Privileged": False, "ShmSize": 67108864, "Runtime": "runc", "Memory": 0, "NanoCpus": 0,
            "DeviceRequests": gpus, "MemorySwap": 0, "OomKillDisable": False, "PidsLimit": None,
        },
        "Mounts": mounts,
        "Config": {
            "Hostname": cid[:12], "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
            "AttachStderr": False, "ExposedPorts": {f"{p}/tcp": {} for p in (*(p for _, p in spec.ports), *spec.exposed)},
            "Tty": False, "OpenStdin": False, "StdinOnce": False,
            "Env": [*spec.env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": args or None, "Image": spec.image, "Volumes": None, "WorkingDir": "", "Entrypoint": [path],
            "OnBuild": None, "Labels": labels(c, key, unraid),
        },
        "NetworkSettings": {
            "Bridge": "", "SandboxID": hash_hex(64, key, len(cid), 5), "Ports": {
                f"{p}/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(h)}, {"HostIp": "::", "HostPort": str(h)}]
                for h, p in spec.ports
            } if view.running else {},
            "Networks": {net: {
                "IPAMConfig": None, "Links": None, "Aliases": [spec.service] if spec.project else None,
                "NetworkID": hash_hex(64, key, len(net), 6), "Gateway": ip.rsplit(".", 1)[0] + ".1" if ip else "",
                "IPAddress": ip, "IPPrefixLen": 16 if ip else 0, "DNSNames": [spec.name, cid[:12]] if ip else None,
            }},
        },
    }  # fmt: skip


def inspect_json(objects: list[dict[str, object]]) -> str:
    """``docker inspect`` without a format: a 4-space indented array, HTML-escaped as json.Marshal does."""
    text = json.dumps(objects, indent=4, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"
