#!/usr/bin/env python3
"""Checks lib/'s lock annotations (common/thread_annotations.hpp) with clang's -Wthread-safety.

GCC ignores the annotations, so the build alone cannot fail on a guarded member read without
its lock. This re-runs every lib/ translation unit of a build's compile_commands.json through
clang++ -fsyntax-only with the analysis on and its findings as errors.

Usage: thread_safety.py <build dir> [clang++]
"""
import json
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor


def clang_command(entry, clang):
    args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    out = [clang]
    skip = 0
    for i, a in enumerate(args[1:], start=1):
        if skip:
            skip -= 1
            continue
        if a in ("-o", "-MF", "-MT", "-MQ", "-include"):
            skip = 1  # GCC's precompiled header and dependency files are not clang's
            continue
        if a in ("-c", "-MD", "-MMD", "-Winvalid-pch", "-Werror") or a.startswith("-fsanitize"):
            continue
        out.append(a)
    return out + ["-fsyntax-only", "-Wthread-safety", "-Werror=thread-safety", "-Wno-unknown-warning-option"]


def main():
    build = sys.argv[1]
    clang = sys.argv[2] if len(sys.argv) > 2 else "clang++"
    source_root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    lib = os.path.join(source_root, "lib") + os.sep
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = [e for e in json.load(f) if os.path.abspath(e["file"]).startswith(lib)]
    if not entries:
        print("no lib/ sources in the compile database", file=sys.stderr)
        return 1

    def check(entry):
        r = subprocess.run(clang_command(entry, clang), cwd=entry["directory"], capture_output=True, text=True)
        return entry["file"], r.returncode, r.stderr

    failed = 0
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for path, rc, err in pool.map(check, entries):
            if rc != 0:
                failed += 1
                print(f"{os.path.relpath(path, source_root)}:\n{err}", file=sys.stderr)
    print(f"thread-safety analysis: {len(entries) - failed} of {len(entries)} lib/ files clean")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
