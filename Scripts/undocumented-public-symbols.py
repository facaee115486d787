#!/usr/bin/env python3
"""Lists public declarations without a `///` doc comment in Sources/ (modules given as arguments,
or every module). Attributes (@Sendable, @discardableResult…) between the comment and the
declaration are allowed. Exit status 1 when something is undocumented.

    python3 Scripts/undocumented-public-symbols.py [Chronicle ChronicleSQLite …]
"""
import os
import re
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Sources")
modules = sys.argv[1:] or sorted(os.listdir(root))
decl = re.compile(r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:public|open)\s+(?!import\b)(?:(?:static|final|nonisolated|mutating|override|indirect|convenience|required)\s+)*(func|var|let|init|subscript|struct|enum|class|actor|protocol|typealias|case|extension)\b")
missing = []
for module in modules:
    for dirpath, _, files in os.walk(os.path.join(root, module)):
        for name in sorted(files):
            if not name.endswith(".swift"):
                continue
            path = os.path.join(dirpath, name)
            lines = open(path, encoding="utf-8").read().split("\n")
            for i, line in enumerate(lines):
                m = decl.match(line)
                if not m or m.group(1) == "extension":
                    continue
                j = i - 1
                while j >= 0 and re.match(r"^\s*@\w+", lines[j]):  # attributes on their own line
                    j -= 1
                if j >= 0 and lines[j].strip().startswith("///"):
                    continue
                missing.append(f"{os.path.relpath(path, os.path.join(root, '..'))}:{i + 1}: {line.strip()}")
print("\n".join(missing))
print(f"{len(missing)} public declarations without a doc comment", file=sys.stderr)
sys.exit(1 if missing else 0)
