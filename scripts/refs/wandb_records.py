#!/usr/bin/env python3
"""scripts/refs/wandb_records.py DIR OUT.json: the history a W&B offline run holds, as JSON, for
tests/train/test_tensorboard.cpp (scripts/wandb_sync.py with WANDB_MODE=offline).

Reads DIR/wandb/offline-run-*/run-*.wandb, the file `wandb sync` would upload: a 7-byte header
(":W&B", magic, version), then LevelDB log records (32 KiB blocks; each chunk a 7-byte header:
CRC-32C, length, type FULL/FIRST/MIDDLE/LAST) holding wandb's Record protocol buffers. The
history records become {"history": [{"_step": n, tag: value, ...}, ...]} (tables as their
type name).
"""
import glob
import json
import struct
import sys

from wandb.proto import wandb_internal_pb2 as pb

BLOCK = 32768


def chunks(data):
    if data[:4] != b":W&B":
        raise SystemExit("not a .wandb file (no :W&B header)")
    pos, buf = 7, b""
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        if left < 7:  # a block's tail too short for a header is padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        body = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 1:
            yield body
        elif kind == 2:
            buf = body
        elif kind == 3:
            buf += body
        elif kind == 4:
            yield buf + body
        elif kind == 0 and length == 0:
            pos += BLOCK - pos % BLOCK if pos % BLOCK else 0


def main():
    folder, out = sys.argv[1], sys.argv[2]
    files = sorted(glob.glob(f"{folder}/wandb/offline-run-*/run-*.wandb"))
    if not files:
        raise SystemExit(f"{folder}: no wandb/offline-run-*/run-*.wandb")
    history = []
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        for body in chunks(data):
            rec = pb.Record()
            rec.ParseFromString(body)
            if rec.WhichOneof("record_type") != "history":
                continue
            row = {}
            for item in rec.history.item:
                key = item.key or "/".join(item.nested_key)
                value = json.loads(item.value_json)
                row[key] = value.get("_type", value) if isinstance(value, dict) else value
            history.append(row)
    with open(out, "w") as f:
        json.dump({"history": history}, f)


if __name__ == "__main__":
    main()
