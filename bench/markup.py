"""Benchmark: the worst cost of rendering a volunteer's Markdown (issue 12, point 5).

Texts are rendered once, when saved (``monitor.markup.render``), inside the saving
request. For each family of shapes that makes Python-Markdown super-linear, and ordinary
text for reference, a text at the length limits (20,000 characters: notices, messages,
updates; 100,000: post-mortems) is rendered ``--runs`` times; the report gives the CPU
time per render (median [min–max]) and the worst family. Random texts over a hostile
alphabet (``--random``) look for shapes the families miss. ``--unguarded`` times plain
Python-Markdown (the renderer before the guard) on the same families at
``--unguarded-size`` characters, each in a child process stopped after
``--unguarded-timeout`` seconds.

    .venv/bin/python bench/markup.py
    .venv/bin/python bench/markup.py --sizes 20000 --runs 5 --random 20
    .venv/bin/python bench/markup.py --unguarded --unguarded-size 5000

Target: every family under 1 s of CPU at 20,000 characters (a save never waits longer),
growing linearly to 100,000.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import MachineLoad, describe_machine, load_note, progress, spread

TARGET_SECONDS = 1.0


def _fill(unit: str):
    return lambda size: (unit * (size // len(unit) + 1))[:size]


def _lines(make_line):
    def build(size: int) -> str:
        out, total, i = [], 0, 0
        while total < size:
            line = make_line(i)
            out.append(line)
            total += len(line) + 1
            i += 1
        return "\n".join(out)[:size]
    return build


#: family → text of a given size
FAMILIES = {
    "ordinary text": _fill("Le serveur **imap2** est [en maintenance](https://guides.example"
                           ".coop/imap) : `systemctl restart dovecot` puis vérification.\n\n"),
    "[ ×n then ] ×n (the issue)": lambda size: "[" * (size // 2) + "]" * (size // 2 - 1),
    "[ ×n": _fill("["),
    "![ ×n": _fill("!["),
    "[a ×n then ] ×n": lambda size: "[a" * (size // 3) + "]" * (size // 3),
    "[a]( ×n": _fill("[a]("),
    '[a](" ×n': _fill('[a]("'),
    "[a][ ×n": _fill("[a]["),
    "[[] ×n": _fill("[[]"),
    "<a  ×n": _fill("<a "),
    "<a ×n": _fill("<a"),
    "<http:// ×n": _fill("<http://"),
    "<a b='> ×n": _fill("<a b='>"),
    "1.  ×n (nested lists)": _fill("1. "),
    "> ×n (nested quotes)": _fill(">"),
    "indented list ×n": _lines(lambda i: "    " * i + "- a"),
    "> quoted lists ×n": _lines(lambda i: "> " * i + "- a"),
    "\\\\ ×n (escapes)": _fill("\\\\"),
    "*a ×n (emphasis)": _fill("*a"),
    "`a ×n (code)": _fill("`a"),
    "&amp; ×n (entities)": _fill("&amp;"),
    "<b> ×n (inline tags)": _fill("<b>"),
    "a\\n\\n ×n (paragraphs)": _fill("a\n\n"),
    "a  \\n ×n (line breaks)": _fill("a  \n"),
}
#: characters of the random texts
HOSTILE = "[]()<>!*_`\\&#;:'\"=/-+>. \n\n    1aé|~"

UNGUARDED = r"""
import json, sys, time, markdown
text = sys.stdin.read()
t0 = time.process_time()
try:
    markdown.markdown(text, extensions=["sane_lists"], output_format="html")
    print(json.dumps({"cpu": time.process_time() - t0}))
except RecursionError:
    print(json.dumps({"cpu": time.process_time() - t0, "error": "RecursionError"}))
"""


def cpu_of(render, text: str) -> float:
    """CPU seconds of one render (this process's only thread running)."""
    t0 = time.process_time()
    render(text)
    return time.process_time() - t0


def unguarded(text: str, timeout: float) -> str:
    """Plain Python-Markdown on ``text`` in a child process: CPU seconds, or what
    stopped it."""
    try:
        done = subprocess.run([sys.executable, "-c", UNGUARDED], input=text, text=True,
                              capture_output=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return f"> {timeout:.0f} s (stopped)"
    result = json.loads(done.stdout)
    return result.get("error") or f"{result['cpu']:.2f} s"


def main() -> int:
    """Render each family at each size, print CPU per render and the worst."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--random", type=int, default=10, help="random texts per size")
    parser.add_argument("--unguarded", action="store_true")
    parser.add_argument("--unguarded-size", type=int, default=5_000)
    parser.add_argument("--unguarded-timeout", type=float, default=120.0)
    args = parser.parse_args()

    from monitor.markup import render

    render("warm *up*")  # imports, the converter
    print(f"machine: {describe_machine()}")
    loads = []
    worst: dict[int, tuple[float, str]] = {}
    for size in args.sizes:
        print(f"\n{size:,} characters: CPU seconds per render, median [min–max] of "
              f"{args.runs}")
        load = MachineLoad().start()
        load.track(os.getpid())
        for name, make in FAMILIES.items():
            text = make(size)
            times = spread(cpu_of(render, text) for _ in range(args.runs))
            print(f"  {name:32s} {times.fmt(3)}", flush=True)
            worst[size] = max(worst.get(size, (0.0, "")), (times.high, name))
        rng = random.Random(size)
        for _ in range(args.random):
            text = "".join(rng.choice(HOSTILE) for _ in range(size))
            cost = cpu_of(render, text)
            worst[size] = max(worst[size], (cost, "random hostile text"))
        if args.random:
            progress(f"{args.random} random hostile texts of {size:,} done")
        loads.append(load.stop())
    print()
    for size, (cost, name) in worst.items():
        verdict = "met" if size > 20_000 or cost < TARGET_SECONDS else "MISSED"
        print(f"worst at {size:,} characters: {cost:.3f} s ({name}); target "
              f"< {TARGET_SECONDS:.0f} s at 20,000: {verdict}")
    if args.unguarded:
        print(f"\nplain Python-Markdown (no guard) at {args.unguarded_size:,} characters, "
              "CPU seconds:")
        for name, make in FAMILIES.items():
            print(f"  {name:32s} {unguarded(make(args.unguarded_size), args.unguarded_timeout)}",
                  flush=True)
    print(load_note(loads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
