#!/usr/bin/env python3
"""Reference EncodedPrompts for tests/data/test_prompt.cpp, made by transformers'
Qwen2VLProcessor: processor(text=processor.apply_chat_template(...), images=...,
padding=True, padding_side="left").

usage: prompt_refs.py TOKENIZER_JSON IMAGES_DIR OUTDIR

The processor is assembled locally (the model hub is out of reach): the tokenizer from
TOKENIZER_JSON, the slow (PIL) image processor, and the Qwen2-VL-Instruct chat template
(chat_template.py). Writes OUTDIR/cases.json
(each case: messages, image paths, options, expected input_ids / attention_mask /
image_grid_thw) and OUTDIR/pixel_values.safetensors (one tensor per case).
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
from PIL import Image
from transformers import Qwen2VLProcessor, PreTrainedTokenizerFast
try:
    from transformers import Qwen2VLImageProcessorPil as SlowProcessor
except ImportError:
    from transformers import Qwen2VLImageProcessor as SlowProcessor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chat_template import QWEN2VL_TEMPLATE  # noqa: E402


Q = ("Detect all objects belonging to the category 'dog' in the image, and provide the "
     "bounding boxes (between 0 and 1000, integer) and confidence (between 0 and 1, with two "
     "decimal places). Output the thinking process in <think> </think> and final answer in "
     "<answer> </answer> tags.")


# The evaluation questions exactly as the reference's scripts write them
# (coco_evaluation/Qwen2_VL_coco_infere.py, classification/Qwen2_VL_classification_infere.py):
# the string joins, the missing space in "tags.The output", and the "<image>\n" prefix.
COCO_EVAL = ("<image>\n" +
             "Detect all objects belonging to the category '{}' in the image, and provide the bounding boxes "
             "(between 0 and 1000, integer) and confidence (between 0 and 1, with two decimal places).\n"
             "If no object belonging to the category '{}' in the image, return 'No Objects'.\n"
             "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags."
             "The output answer format should be as follows:\n"
             "<think> ... </think> <answer>[{{'Position': [x1, y1, x2, y2], 'Confidence': number}}, ...]</answer>\n"
             "Please strictly follow the format.").format("fire hydrant", "fire hydrant")
CLS_EVAL = ("<image>\n" +
            "This is an image containing an aircraft. Please identify the model of the aircraft based on the image.\n"
            "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags."
            "The output answer format should be as follows:\n"
            "<think> ... </think> <answer>species name</answer>\n"
            "Please strictly follow the format.")


def img(t):
    return {"type": "image"} if t is None else {"type": "text", "text": t}


def user(*items):
    return {"role": "user", "content": [img(i) for i in items]}


def cases(photos):
    a, b, c, d = photos[:4]
    return [
        # name, batch of (messages, images), options
        ("single", [([user(None, Q)], [a])], {}),
        ("batch_lengths", [([user(None, "What is this?")], [a]),
                           ([user(None, Q)], [b]),
                           ([user(None, None, "Compare the two pictures.")], [c, d])], {"max_pixels": 200704}),
        ("system_and_assistant", [([{"role": "system", "content": [img("You are a careful annotator.")]},
                                    user(None, "Name the animal."),
                                    {"role": "assistant", "content": [img("<think>fur</think><answer>cat</answer>")]},
                                    user(None, "And this one? ünïcödé 你好 🙂")], [b, c])], {"max_pixels": 100352}),
        ("vision_id", [([user(None, "first", None, "second")], [d, a])], {"add_vision_id": True, "max_pixels": 50176}),
        ("text_only_row", [([user("No picture here, just   spaces\tand\nnewlines.")], []),
                           ([user(None, "With one.")], [a])], {"min_pixels": 200704, "max_pixels": 401408}),
        ("no_generation_prompt", [([user(None, "Caption:")], [c])], {"add_generation_prompt": False}),
        # The reference's evaluation messages: no system prompt of their own, image then question.
        ("coco_eval_question", [([user(None, COCO_EVAL)], [a])], {"max_pixels": 100352}),
        ("cls_eval_question", [([user(None, CLS_EVAL)], [b])], {"max_pixels": 100352}),
        # data.image_position: after_text, the question before the image.
        ("question_first", [([user(Q, None)], [c])], {"max_pixels": 100352}),
    ]


# Without torchvision no video processor can be built, and ProcessorMixin refuses a missing
# one; these prompts hold no video, so the class check is skipped.
Qwen2VLProcessor.check_argument_for_proper_class = lambda self, name, arg: None


def main():
    tok_json, images_dir, out = sys.argv[1:4]
    os.makedirs(out, exist_ok=True)
    photos = sorted(os.path.join(images_dir, f) for f in os.listdir(images_dir) if f.endswith((".jpg", ".png")))
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=tok_json, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        padding_side="left")
    rows, tensors = [], {}
    for name, batch, opts in cases(photos):
        ip = SlowProcessor(min_pixels=opts.get("min_pixels", 3136), max_pixels=opts.get("max_pixels", 12845056))
        proc = Qwen2VLProcessor(image_processor=ip, tokenizer=tokenizer, chat_template=QWEN2VL_TEMPLATE)
        texts = [proc.apply_chat_template(m, tokenize=False, add_generation_prompt=opts.get("add_generation_prompt", True),
                                          add_vision_id=opts.get("add_vision_id", False)) for m, _ in batch]
        images = [Image.open(p) for _, ims in batch for p in ims]
        enc = proc(text=texts, images=images or None, padding=True, padding_side="left", return_tensors="pt")
        row = {"name": name, "options": opts, "texts": texts,
               "batch": [{"messages": m, "images": ims} for m, ims in batch],
               "input_ids": enc["input_ids"].tolist(), "attention_mask": enc["attention_mask"].tolist()}
        if images:
            row["image_grid_thw"] = enc["image_grid_thw"].tolist()
            tensors[name] = enc["pixel_values"].float().contiguous()
        rows.append(row)
    save_file(tensors, os.path.join(out, "pixel_values.safetensors"))
    with open(os.path.join(out, "cases.json.tmp"), "w") as fh:
        json.dump(rows, fh, ensure_ascii=False)
    os.replace(os.path.join(out, "cases.json.tmp"), os.path.join(out, "cases.json"))


if __name__ == "__main__":
    main()
