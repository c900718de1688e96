#!/usr/bin/env python3
"""Checks lib/'s lock annotations (common/thread_annotations.hpp) with clang's -Wthread-safety.

GCC ignores the annotations, so the build alone cannot fail on a guarded member read without
its lock. This runs every lib/ source of a build's compile_commands.json through
clang++ -fsyntax-only with its own flags, the analysis on and its findings as errors (-Werror
itself is dropped: other warnings are not this check's business).

Checking each source in a clang run of its own took minutes, nearly all of it spent parsing the
same third-party headers (nlohmann/json, spdlog, fmt, asio, the standard library) and
instantiating the same library templates again for every file. So:

 1. Sources are grouped by compile flags, include directories compared after resolving them
    (lib/io/.. and lib/node/.. are one directory, and the compiler skips repeated ones). Every
    other flag (-D, -std, -f, ...) must be the same as written.
 2. A group is checked as one translation unit that #includes all its sources, with the group's
    flags. Every function of every source is analysed there, with the same warnings as errors,
    so a group that compiles without any error is clean. (What one source declares or #defines
    is visible to the sources after it; a clash is an error, handled next.)
 3. When that fails (on a finding, or on names in anonymous namespaces that clash once sources
    share a translation unit), the sources that clang's errors are in, or that #include a
    header they are in, are checked each on its own, and the others together again, the same
    way. When the errors point at none of them (or at all), the group is split in halves.
    Only runs of a single source are ever reported, so a failure names its real file with
    clang's own message, as when every source had a run of its own.

Usage: thread_safety.py <build dir> [clang++]
"""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor

ANALYSIS = ["-fsyntax-only", "-Wthread-safety", "-Werror=thread-safety", "-Wno-unknown-warning-option"]
ERROR_AT = re.compile(r"^(.+?):\d+:\d+: (?:fatal )?error:", re.MULTILINE)
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.MULTILINE)


def source_path(entry):
    return os.path.normpath(os.path.join(entry["directory"], entry["file"]))


def clang_flags(entry):
    """The entry's compile flags for clang: its command without the compiler, the source,
    outputs, GCC's precompiled header and -Werror."""
    args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    out = []
    skip = 0
    for a in args[1:]:
        if skip:
            skip -= 1
            continue
        if a in ("-o", "-MF", "-MT", "-MQ", "-include"):
            skip = 1  # GCC's precompiled header and dependency files are not clang's
            continue
        if a in ("-c", "-MD", "-MMD", "-Winvalid-pch", "-Werror") or a.startswith("-fsanitize"):
            continue
        if os.path.normpath(os.path.join(entry["directory"], a)) == source_path(entry):
            continue
        out.append(a)
    return out


def split_includes(flags, directory):
    """flags' -I directories, resolved and each once in search order as the compiler takes
    them, and the other flags as written."""
    dirs, rest = [], []
    args = iter(flags)
    for a in args:
        if not a.startswith("-I"):
            rest.append(a)
            continue
        d = os.path.realpath(os.path.join(directory, a[2:] or next(args, "")))
        if d not in dirs:
            dirs.append(d)
    return dirs, rest


def reached_files(source, dirs):
    """source and every file it reaches through #include lines found in the including file's
    directory (for "...") or in dirs (its -I directories), resolved."""
    seen, todo = set(), [os.path.realpath(source)]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        with open(path, errors="replace") as f:
            text = f.read()
        for kind, name in INCLUDE.findall(text):
            for d in ([os.path.dirname(path)] if kind == '"' else []) + list(dirs):
                found = os.path.realpath(os.path.join(d, name))
                if os.path.isfile(found):
                    todo.append(found)
                    break
    return seen


def main():
    build = sys.argv[1]
    compiler = sys.argv[2] if len(sys.argv) > 2 else "clang++"
    source_root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    lib = os.path.join(source_root, "lib") + os.sep
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = [e for e in json.load(f) if os.path.abspath(e["file"]).startswith(lib)]
    if not entries:
        print("no lib/ sources in the compile database", file=sys.stderr)
        return 1

    groups = {}
    for e in entries:
        flags = clang_flags(e)
        dirs, rest = split_includes(flags, e["directory"])
        groups.setdefault((e["directory"], tuple(dirs), tuple(rest)), []).append((e, flags))
    slots = threading.Semaphore(os.cpu_count() or 2)  # clang processes running at once

    def run_clang(flags, directory, source):
        with slots:
            r = subprocess.run([compiler] + flags + ANALYSIS + [source], cwd=directory,
                               capture_output=True, text=True)
        return r.returncode, r.stderr

    def check_alone(entry, flags):
        rc, err = run_clang(flags, entry["directory"], entry["file"])
        return source_path(entry), rc, err

    def check(members):
        """(source, returncode, stderr) for each of members, and the sources clang's errors
        pointed at if they did not pass as one translation unit."""
        if len(members) == 1:
            return [check_alone(*members[0])], []
        fd, unity = tempfile.mkstemp(suffix=".cpp", dir=tmp)
        with os.fdopen(fd, "w") as f:
            f.writelines(f'#include "{source_path(e)}"\n' for e, _ in members)
        rc, err = run_clang(members[0][1], members[0][0]["directory"], unity)
        if rc == 0:
            return [(source_path(e), 0, "") for e, _ in members], []

        directory = members[0][0]["directory"]
        dirs, _ = split_includes(members[0][1], directory)
        at = {os.path.realpath(os.path.join(directory, p)) for p in ERROR_AT.findall(err)}
        suspects = [m for m in members if at & reached_files(source_path(m[0]), dirs)]
        if 0 < len(suspects) < len(members):
            parts = [[m for m in members if m not in suspects]] + [[m] for m in suspects]
        else:
            half = len(members) // 2
            parts = [members[:half], members[half:]]
        with ThreadPoolExecutor(len(parts)) as pool:
            results = [r for part, _ in pool.map(check, parts) for r in part]
        return results, [e for e, _ in suspects]

    def check_group(members):
        results, suspects = check(members)
        if suspects and all(rc == 0 for _, rc, _ in results):
            print(f"note: {len(members)} lib/ sources with the same flags fail as one translation unit "
                  f"but pass apart; clang's errors were in "
                  f"{', '.join(os.path.relpath(source_path(e), source_root) for e in suspects)} "
                  f"(names in anonymous namespaces that clash?)", file=sys.stderr)
        return results

    with tempfile.TemporaryDirectory(prefix="thread_safety.") as tmp, \
            ThreadPoolExecutor(len(groups)) as pool:
        largest_first = sorted(groups.values(), key=len, reverse=True)
        results = [r for group in pool.map(check_group, largest_first) for r in group]

    failed = 0
    for path, rc, err in sorted(results):
        if rc != 0:
            failed += 1
            print(f"{os.path.relpath(path, source_root)}:\n{err}", file=sys.stderr)
    print(f"thread-safety analysis: {len(entries) - failed} of {len(entries)} lib/ files clean")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
