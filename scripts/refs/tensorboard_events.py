#!/usr/bin/env python3
"""scripts/refs/tensorboard_events.py DIR OUT.json: what TensorBoard itself reads from the event
files in DIR, as JSON, for tests/train/test_tensorboard.cpp.

Reads with the tensorboard package's plugin_event_accumulator (the loader behind TensorBoard's
UI: CRC checks, scalars and images migrated to tensors, the purge of events after a SessionLog
START), keeping every event:
  {"scalars": {tag: [[step, value], ...]}, "texts": {tag: [[step, markdown], ...]},
   "images": {tag: [[step, height, width, bytes], ...]}}
"""
import json
import sys

from tensorboard.backend.event_processing import plugin_event_accumulator as pea
from tensorboard.util import tensor_util


def main():
    folder, out = sys.argv[1], sys.argv[2]
    acc = pea.EventAccumulator(folder, size_guidance={pea.TENSORS: 0})
    acc.Reload()
    result = {"scalars": {}, "texts": {}, "images": {}}
    for tag in acc.Tags()[pea.TENSORS]:
        plugin = acc.SummaryMetadata(tag).plugin_data.plugin_name
        for e in acc.Tensors(tag):
            value = tensor_util.make_ndarray(e.tensor_proto)
            if plugin == "scalars":
                result["scalars"].setdefault(tag, []).append([e.step, float(value)])
            elif plugin == "text":
                result["texts"].setdefault(tag, []).append([e.step, value.item().decode("utf-8")])
            elif plugin == "images":  # [width, height, encoded image, ...] as strings
                w, h = int(value[0]), int(value[1])
                result["images"].setdefault(tag, []).append([e.step, h, w, len(value[2])])
            else:
                raise SystemExit(f"{folder}: tag {tag} has plugin {plugin!r}, expected scalars, text or images")
    with open(out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
