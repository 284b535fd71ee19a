"""Command-line flags parsed the way Go's pflag (and so docker and compose) parses them.

Flags may come anywhere among the arguments, ``--flag=value`` and ``--flag value`` both work, short
boolean flags bundle (``-af``), a short flag's value may be glued (``-n5``), ``--`` ends the flags.
Errors carry pflag's wording (``unknown flag: --foo``) for the caller to print.
"""

from __future__ import annotations

Spec = dict[str, tuple[str | None, str]]
"""long flag -> (short letter, kind): kind is "bool", "value" or "list"."""


class FlagError(Exception):
    pass


def parse_flags(args: list[str], spec: Spec) -> tuple[dict[str, object], list[str]]:
    """pflag's parse: options (by long name) and positional arguments, or :class:`FlagError`."""
    opts: dict[str, object] = {}
    rest: list[str] = []
    shorts = {s: long for long, (s, _) in spec.items() if s}
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            rest += args[i + 1 :]
            break
        if a.startswith("--"):
            name, eq, value = a[2:].partition("=")
            if name not in spec:
                raise FlagError(f"unknown flag: --{name}")
            i = _take(opts, spec, name, f"--{name}", value if eq else None, args, i)
        elif a.startswith("-") and len(a) > 1:
            for j, letter in enumerate(a[1:], 1):
                if letter not in shorts:
                    raise FlagError(f"unknown shorthand flag: '{letter}' in {a}")
                long = shorts[letter]
                if spec[long][1] != "bool":
                    tail = a[j + 1 :]
                    i = _take(opts, spec, long, f"'{letter}' in {a}", tail or None, args, i)
                    break
                opts[long] = True
        else:
            rest.append(a)
        i += 1
    return opts, rest


def _take(
    opts: dict[str, object], spec: Spec, name: str, shown: str, value: str | None, args: list[str], i: int
) -> int:
    kind = spec[name][1]
    if kind == "bool":
        if value is not None and value.lower() not in ("true", "false", "1", "0", "t", "f"):
            raise FlagError(
                f'invalid argument "{value}" for "--{name}" flag: strconv.ParseBool: parsing "{value}": invalid syntax'
            )
        opts[name] = value is None or value.lower() in ("true", "1", "t")
        return i
    if value is None:
        if i + 1 >= len(args):
            raise FlagError(f"flag needs an argument: {shown}")
        value, i = args[i + 1], i + 1
    if kind == "list":
        opts.setdefault(name, [])
        opts[name].append(value)  # type: ignore[attr-defined]
    else:
        opts[name] = value
    return i
