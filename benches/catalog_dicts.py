#!/usr/bin/env python3
"""How the catalog's built-in zstd dictionaries (src/catalog/packed/dict/*.v1) were made (issue 21).

They never change once released: a catalog packed with them must stay readable (a new
dictionary is a new codec in src/catalog/packed/mod.rs). This script is kept to show how, and to
make the next set.

Usage: benches/catalog_dicts.py CATALOG.db OUT_DIR
  CATALOG.db  a schema-v2 catalog whose values were packed with placeholder dictionaries
              (`{"placeholder":null}` as raw content), e.g. of a `--scale small` simulator
              backup (2,395 versions, seed 1) with the dictionaries replaced by that text;
  OUT_DIR     where version_profile.v1, container_profile.v1, content.v1 and acl.v1 go.
Needs: python3 with `zstandard` (pip install zstandard).

Measured on that catalog, half the samples to train, the other half to measure (bytes per
value, zstd level 3, no checksum, no dictionary id):
  version profile residual (1,063 B as JSON): none 503, 4 KiB raw 200, 16 KiB raw 159,
      4 KiB trained 138, 16 KiB trained 120;
  content reference (89 B): none 88, 2 KiB trained 57;
  ACL (148 B): none 107, 4 KiB raw 28, trained 30;
  container profile (472 B): none 320, 8 KiB trained 83.
The trained ones learn the simulator's values as well as the contract's field names: a real
library compresses less well; the field names, nulls and dates are most of what they save.
"""
import sqlite3
import sys

import zstandard as z

db = sqlite3.connect(sys.argv[1])
out = sys.argv[2]
placeholder = z.ZstdCompressionDict(b'{"placeholder":null}', dict_type=z.DICT_TYPE_RAWCONTENT)
d = z.ZstdDecompressor(dict_data=placeholder)
# (file, SQL, bytes before the zstd frame, dictionary size, how)
spec = [
    ("version_profile", "SELECT profile FROM versions", 3, 16384, "trained"),
    ("container_profile", "SELECT profile FROM containers", 1, 8192, "trained"),
    ("content", "SELECT content FROM versions", 1, 2048, "trained"),
    ("acl", "SELECT acl FROM acls", 1, 4096, "raw"),
]
for name, sql, skip, size, how in spec:
    samples = [d.decompress(row[0][skip:]) for row in db.execute(sql)]
    if how == "trained":
        data = z.train_dictionary(size, samples, level=3).as_bytes()
    else:
        data = b""
        for s in samples:
            if len(data) + len(s) > size:
                break
            data += s
    with open(f"{out}/{name}.v1", "wb") as f:
        f.write(data)
    print(name, len(samples), "samples,", len(data), "bytes")
