"""The simulator's sh subset: parsing, expansion, exit statuses and coreutils formats (no SSH)."""

from __future__ import annotations

import re

import pytest

from cockpit.config import Cluster
from cockpit.sim.commands import run_command
from cockpit.sim.shparse import ShellSyntaxError, parse, tokenize
from cockpit.sim.world import NodeWorld

T0 = 1_795_361_966.0


def world(**sim: object) -> NodeWorld:
    node = {"name": "n1", "host": "127.0.0.1", "port": 2222, "sim": {"cpus": 8, **sim}}
    cluster = Cluster.model_validate({"cluster": "t", "nodes": [node]})
    return NodeWorld(cluster.nodes[0], seed=3, clock=lambda: T0)


async def sh(script: str, user: str = "root", **sim: object) -> tuple[str, str, int]:
    return await run_command(world(**sim), script, user)


async def test_unknown_command_is_reported_like_dash() -> None:
    out, err, rc = await sh("foo --bar")
    assert (out, err, rc) == ("", "sh: 1: foo: not found\n", 127)


async def test_line_number_of_unknown_command_follows_newlines() -> None:
    _, err, rc = await sh("true\n\nbogus")
    assert err == "sh: 3: bogus: not found\n"
    assert rc == 127


async def test_status_variable_and_sequences() -> None:
    out, _, rc = await sh("false; echo $?; true; echo $?; nope 2>/dev/null; echo $?")
    assert out == "1\n0\n127\n"
    assert rc == 0


async def test_and_or_short_circuit() -> None:
    out, _, rc = await sh("false && echo no || echo yes; true || echo never && echo after")
    assert out == "yes\nafter\n"
    assert rc == 0
    _, _, rc = await sh("true && false")
    assert rc == 1


async def test_pipeline_status_is_the_last_command() -> None:
    out, _, rc = await sh("printf 'a\\nb\\nc\\n' | grep -v b | wc -l")
    assert (out, rc) == ("2\n", 0)
    _, _, rc = await sh("echo x | false")
    assert rc == 1


async def test_grep_exit_codes_and_count() -> None:
    assert (await sh("echo abc | grep -q zzz"))[2] == 1
    assert (await sh("echo abc | grep b"))[0] == "abc\n"
    out, _, rc = await sh("printf 'x1\\ny2\\nx3\\n' | grep -c x")
    assert (out, rc) == ("2\n", 0)
    out, _, rc = await sh("printf 'a\\n' | grep -c z")
    assert (out, rc) == ("0\n", 1)
    _, err, rc = await sh("grep x /no/such")
    assert rc == 2
    assert err == "grep: /no/such: No such file or directory\n"


async def test_grep_extended_and_basic_regex() -> None:
    assert (await sh("echo 'aa bb' | grep -E 'a+ b{2}'"))[2] == 0
    assert (await sh("echo 'a+' | grep 'a+'"))[0] == "a+\n"
    assert (await sh("echo cpu0 | grep '^cpu[0-9]'"))[2] == 0


async def test_redirections_merge_and_discard() -> None:
    out, err, _ = await sh("nosuch 2>&1")
    assert out == "sh: 1: nosuch: not found\n"
    assert err == ""
    out, err, _ = await sh("nosuch >/dev/null 2>&1; echo done")
    assert (out, err) == ("done\n", "")
    out, err, _ = await sh("echo hidden >/dev/null; echo shown >&2")
    assert (out, err) == ("", "shown\n")
    _, err, rc = await sh("echo x > /etc/passwd")
    assert rc == 2
    assert "cannot create /etc/passwd" in err


async def test_quotes_protect_operators_and_variables() -> None:
    out, _, _ = await sh("echo 'a|b;c' \"$HOME x\" '$HOME' a\\;b")
    assert out == "a|b;c /root x $HOME a;b\n"
    out, _, _ = await sh("echo $HOME", user="typhon")
    assert out == "/home/typhon\n"


async def test_variables_assignment_and_field_splitting() -> None:
    out, _, _ = await sh('X="1  2"; echo $X; echo "$X"; echo ${USER}-$NOPE-')
    assert out == "1 2\n1  2\nroot--\n"


async def test_comments_are_ignored() -> None:
    out, _, _ = await sh("echo a # comment ; echo b\necho c#d")
    assert out == "a\nc#d\n"


async def test_syntax_errors_exit_2() -> None:
    _, err, rc = await sh("echo 'open")
    assert (err, rc) == ("sh: 1: Syntax error: Unterminated quoted string\n", 2)
    _, err, rc = await sh("&& echo x")
    assert (err, rc) == ('sh: 1: Syntax error: "&&" unexpected\n', 2)
    with pytest.raises(ShellSyntaxError):
        parse("echo x |")


def test_tokenizer_keeps_fd_redirections_apart_from_words() -> None:
    assert tokenize("a 2>&1 | b") == ["a", "\x052", ">&", "1", "|", "b"]
    assert tokenize("echo 2 > x")[:2] == ["echo", "2"]


async def test_echo_and_printf() -> None:
    out, _, _ = await sh("echo -n a; echo 'b\\tc'; printf '%s=%d %5.1f%%\\n' x 42 3.14159")
    assert out == "ab\tc\nx=42   3.1%\n"
    out, _, _ = await sh("printf '%s,' a b c")
    assert out == "a,b,c,"


async def test_cat_head_tail_wc_cut() -> None:
    out, err, rc = await sh("cat /proc/loadavg /nope")
    assert re.fullmatch(r"\d+\.\d\d \d+\.\d\d \d+\.\d\d \d+/\d+ \d+\n", out)
    assert (err, rc) == ("cat: /nope: No such file or directory\n", 1)
    assert (await sh("head -n 1 /proc/stat"))[0].startswith("cpu  ")
    assert (await sh("head -2 /proc/meminfo | tail -n 1"))[0].startswith("MemFree:")
    assert (await sh("wc -l < /proc/cpuinfo"))[0].strip().isdigit()
    assert (await sh("cut -d' ' -f1,3 /proc/loadavg"))[0].count(" ") == 1


async def test_command_v_and_paths() -> None:
    out, _, rc = await sh("command -v nvidia-smi; command -v echo")
    assert (out, rc) == ("/usr/bin/nvidia-smi\necho\n", 0)
    out, _, rc = await sh("command -v nvidia-smi", nvidia_smi="missing")
    assert (out, rc) == ("", 127), "dash answers 127 for an unknown name"
    assert (await sh("/usr/bin/nproc"))[0] == "8\n"
    assert (await sh("/opt/x/nproc"))[2] == 127


async def test_df_posix_columns_and_capacity() -> None:
    disks = [
        {"mount": "/", "size_gib": 100, "used_pct": 41},
        {"mount": "/data", "size_gib": 1000, "used_pct": 90},
    ]
    out, _, rc = await sh("df -P", disks=disks)
    lines = out.splitlines()
    assert rc == 0
    assert re.fullmatch(r"Filesystem +1024-blocks +Used +Available +Capacity Mounted on", lines[0])
    rows = {ln.split()[-1]: ln.split() for ln in lines[1:]}
    assert rows["/data"][4] == "90%"
    assert int(rows["/data"][1]) == 1000 * 1024 * 1024
    column = lines[0].index("Mounted on")
    assert all(len(ln) - len(ln.split()[-1]) == column for ln in lines[1:]), "columns must line up"
    out, _, _ = await sh("df -h /data/x", disks=disks)
    assert out.splitlines()[0].split() == ["Filesystem", "Size", "Used", "Avail", "Use%", "Mounted", "on"]
    assert out.splitlines()[1].split()[1:3] == ["1000G", "900G"]
    _, err, rc = await sh("df relative/../nope", disks=[{"mount": "/x", "size_gib": 1, "used_pct": 1}])
    assert rc == 1
    assert err.startswith("df: ")


async def test_free_matches_procps_layout() -> None:
    out, _, _ = await sh("free", mem_gib=64)
    head, mem, swap = out.splitlines()
    assert head == "               total        used        free      shared  buff/cache   available"
    assert mem.startswith("Mem:") and swap.startswith("Swap:")
    total, used, free, _, cache, avail = map(int, mem.split()[1:])
    assert cache > 0
    assert total == int(64 * 1024 * 1024 * 0.985)
    assert used == total - avail
    assert free < avail
    assert (await sh("free -h"))[0].splitlines()[1].split()[1].endswith("Gi")


async def test_uptime_uname_hostname_nproc() -> None:
    out, _, _ = await sh("uptime")
    assert re.fullmatch(
        r" \d\d:\d\d:\d\d up \d+ days?, +\d+:\d\d, +0 user,  load average: [\d.]+, [\d.]+, [\d.]+\n", out
    )
    assert (await sh("uname"))[0] == "Linux\n"
    assert (await sh("uname -a"))[0].startswith("Linux n1 ")
    assert (await sh("hostname; nproc; whoami", user="ubuntu"))[0] == "n1\n8\nubuntu\n"


async def test_exit_stops_the_script() -> None:
    out, _, rc = await sh("echo a; exit 3; echo b")
    assert (out, rc) == ("a\n", 3)


async def test_if_elif_else() -> None:
    script = (
        "if command -v nvidia-smi >/dev/null 2>&1; then echo gpu; else echo nogpu; fi\n"
        "if false; then echo a\nelif [ -e /proc/stat ]; then echo b; else echo c; fi"
    )
    assert (await sh(script))[0] == "gpu\nb\n"
    assert (await sh(script, nvidia_smi="missing"))[0] == "nogpu\nb\n"
    assert (await sh("if false; then echo x; fi; echo $?"))[0] == "0\n"


async def test_for_loops_groups_and_subshells() -> None:
    out, _, _ = await sh("for f in /proc/loadavg /nope; do [ -f $f ] && echo yes || echo no; done")
    assert out == "yes\nno\n"
    out, err, _ = await sh('{ echo a; nosuch; } 2>&1 | wc -l; (X=1; exit 4); echo $? "$X"')
    assert (out, err) == ("2\n4 \n", "")


async def test_test_builtin() -> None:
    assert (await sh("[ 3 -gt 2 ] && [ abc = abc ] && [ -n x ] && [ -z '' ] && [ ! -d /proc/stat ]"))[2] == 0
    assert (await sh("test 1 -eq 2"))[2] == 1
    _, err, rc = await sh("[ 1 -eq x ]")
    assert (err, rc) == ("sh: 1: [: Illegal number: x\n", 2)
    assert (await sh("[ -x /usr/bin/nvidia-smi ]", nvidia_smi="missing"))[2] == 1


async def test_compound_syntax_errors() -> None:
    assert (await sh("fi"))[1:] == ('sh: 1: Syntax error: "fi" unexpected\n', 2)
    assert (await sh("if true; then echo x"))[1:] == (
        'sh: 1: Syntax error: end of file unexpected (expecting "fi")\n',
        2,
    )
    assert (await sh("for x in a; echo x"))[1] == 'sh: 1: Syntax error: "echo" unexpected (expecting "do")\n'
    assert (await sh("{ echo a"))[1] == 'sh: 1: Syntax error: end of file unexpected (expecting "}")\n'
    assert (await sh("echo a )"))[2] == 2


# The messages below were checked against dash 0.5.12, GNU coreutils 9.4 and procps-ng 4.0.4.


async def test_error_messages_match_the_real_tools() -> None:
    assert (await sh("head -n x /proc/loadavg"))[1:] == ("head: invalid number of lines: \u2018x\u2019\n", 1)
    _, err, rc = await sh("sleep abc")
    assert (err, rc) == (
        "sleep: invalid time interval \u2018abc\u2019\nTry 'sleep --help' for more information.\n",
        1,
    )
    assert (await sh("echo x > /proc/nope/x"))[1:] == (
        "sh: 1: cannot create /proc/nope/x: Directory nonexistent\n",
        2,
    )
    assert (await sh("echo x >&5"))[1:] == ("sh: 1: 5: Bad file descriptor\n", 2)
    assert (await sh("cat < /nope"))[1:] == ("sh: 1: cannot open /nope: No such file\n", 2)
    assert (await sh("exit abc"))[1:] == ("sh: 1: exit: Illegal number: abc\n", 2)
    assert await sh("printf '%d\\n' abc") == ("0\n", "sh: 1: printf: abc: expected numeric value\n", 1)
    assert (await sh("[ 1 -eq 1"))[1:] == ("sh: 1: [: missing ]\n", 2)


async def test_wc_widths_follow_gnu() -> None:
    out, _, _ = await sh("wc -l /proc/loadavg; wc /proc/loadavg; echo a | wc")
    lines = out.splitlines()
    assert lines[0] == "1 /proc/loadavg"
    assert re.fullmatch(r"1 5 \d+ /proc/loadavg", lines[1])
    assert lines[2] == "      1       1       2"


def test_free_human_sizes_match_procps() -> None:
    from cockpit.sim.sysutils import human_free

    observed = {
        131981020: "125Gi",
        520168: "507Mi",
        130708560: "124Gi",
        7368: "7.2Mi",
        972160: "949Mi",
        0: "0B",
    }
    assert {kib: human_free(kib) for kib in observed} == observed
