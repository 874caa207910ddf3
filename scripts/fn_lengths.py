#!/usr/bin/env python3
"""The longest non-test functions of a Rust source tree, in lines (signature to closing brace).

Usage: scripts/fn_lengths.py [SRC_DIR] [--top N] [--over LINES]
       git worktree add /tmp/old <commit> && scripts/fn_lengths.py /tmp/old/src   (an older tree)

Test code is left out: files named `*tests.rs`, and everything from a `#[cfg(test)]` line on.
Braces inside strings, chars and comments are skipped, so the count follows the real blocks.
"""
import os
import re
import sys

FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+([A-Za-z0-9_]+)")


def code_only(text):
    """The text with string/char literals and comments blanked (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:]):
            hashes = re.match(r"r(#*)\"", text[i:]).group(1)
            end = '"' + hashes
            j = text.find(end, i + 2 + len(hashes))
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(re.sub(r"[^\n]", " ", text[i:j + 1]))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4] + "    "):
            m = re.match(r"'(\\.|[^\\'])'", text[i:])
            out.append(" " * len(m.group(0)))
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(path):
    text = open(path, encoding="utf-8").read()
    cut = re.search(r"(?m)^\s*#\[cfg\(test\)\]", text)
    if cut:
        text = text[: cut.start()]
    lines = code_only(text).split("\n")
    found = []
    for i, line in enumerate(lines):
        m = FN.match(line)
        if not m:
            continue
        depth, opened = 0, False
        for j in range(i, len(lines)):
            for ch in lines[j]:
                if ch == "{":
                    depth += 1
                    opened = True
                elif ch == "}":
                    depth -= 1
                elif ch == ";" and not opened and depth == 0:
                    break  # a declaration without a body
            else:
                if opened and depth == 0:
                    found.append((j - i + 1, m.group(6), i + 1))
                    break
                continue
            break
    return found


def main():
    args = sys.argv[1:]
    top, over = 15, 0
    if "--top" in args:
        k = args.index("--top")
        top = int(args[k + 1])
        del args[k : k + 2]
    if "--over" in args:
        k = args.index("--over")
        over = int(args[k + 1])
        del args[k : k + 2]
    root = args[0] if args else "src"
    rows = []
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".rs") and not f.endswith("tests.rs"):
                p = os.path.join(d, f)
                for n, name, line in functions(p):
                    rows.append((n, f"{os.path.relpath(p, os.path.dirname(root.rstrip('/')))}:{line} {name}"))
    rows.sort(reverse=True)
    shown = [r for r in rows if r[0] > over] if over else rows[:top]
    for n, what in shown:
        print(f"{n:5} {what}")


if __name__ == "__main__":
    main()
