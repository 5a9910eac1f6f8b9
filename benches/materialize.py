#!/usr/bin/env python3
"""Writes the tree of one commit of a bare git repository into a directory.

Snapshots from the search tool's `fetch` lack blobs of 4 MiB and more; `git archive` stops at
the first missing blob, so this streams present blobs through `git cat-file --batch` and skips
the missing ones (they would be skipped by sextant's size limit anyway).

usage: materialize.py GIT_DIR COMMIT OUT_DIR
"""
import os
import subprocess
import sys


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    git_dir, commit, out = sys.argv[1:]
    listing = subprocess.run(
        ["git", "--git-dir", git_dir, "ls-tree", "-r", "-z", commit],
        check=True, capture_output=True,
    ).stdout.split(b"\0")
    blobs = []
    for entry in listing:
        if not entry:
            continue
        meta, path = entry.split(b"\t", 1)
        mode, kind, oid = meta.split(b" ")
        if kind == b"blob" and mode in (b"100644", b"100755"):
            blobs.append((oid, path))
    cat = subprocess.Popen(
        ["git", "--git-dir", git_dir, "cat-file", "--batch"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    missing = 0
    for oid, path in blobs:
        cat.stdin.write(oid + b"\n")
        cat.stdin.flush()
        header = cat.stdout.readline().split()
        if len(header) < 3 or header[1] == b"missing":
            missing += 1
            continue
        size = int(header[2])
        data = cat.stdout.read(size)
        cat.stdout.read(1)
        target = os.path.join(out.encode(), path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(data)
    cat.stdin.close()
    cat.wait()
    print(f"wrote {len(blobs) - missing} files, skipped {missing} missing blobs", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
