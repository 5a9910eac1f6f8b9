"""Aider's repo map on a tree, cold, for comparison with a cold `sextant index`.

    benches/aider-repomap.py TREE

Run with the Python of a virtual environment holding `aider-chat` (PyPI; 0.86.2 was used).
Aider's tag cache (TREE/.aider.tags.cache.v4) is removed first, so every file is parsed; the
map is asked for with every file of the tree as a candidate and none in the chat, as aider
does when it starts in a repository. Prints the wall seconds and the map's size.
"""
import os
import shutil
import sys
import time

from aider.io import InputOutput
from aider.models import Model
from aider.repomap import RepoMap

tree = os.path.abspath(sys.argv[1])
shutil.rmtree(os.path.join(tree, ".aider.tags.cache.v4"), ignore_errors=True)
files = []
for directory, dirs, names in os.walk(tree):
    dirs[:] = [d for d in dirs if not d.startswith(".")]
    files.extend(os.path.join(directory, name) for name in names)
io = InputOutput(yes=True, pretty=False)
started = time.perf_counter()
repo_map = RepoMap(map_tokens=1024, root=tree, main_model=Model("gpt-4o"), io=io, refresh="always")
text = repo_map.get_repo_map([], files) or ""
elapsed = time.perf_counter() - started
print(f"aider repo map: {elapsed:.2f} s, {len(files)} files offered, map {len(text)} chars")
shutil.rmtree(os.path.join(tree, ".aider.tags.cache.v4"), ignore_errors=True)
