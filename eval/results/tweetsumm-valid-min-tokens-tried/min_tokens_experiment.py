"""Experiment: the shipped summarizer with its end of text suppressed for the first N generated tokens (llama.cpp),
on the validation split. Usage: minlen.py N LIMIT"""
import sys
from pathlib import Path
import numpy as np
from assistant.backends import llamacpp
from eval.compare import run
from eval.generate import parse_system

N, limit = int(sys.argv[1]), int(sys.argv[2])
orig = llamacpp.LlamaCppGenerator.stream

def stream(self, prompt, params):
    llm = self._llm
    eos = {llm.token_eos()} | {t for t in (llm.tokenize(b"<|im_end|>", add_bos=False, special=True)) if t is not None}
    start = None
    def proc(input_ids, scores):
        nonlocal start
        if start is None:
            start = len(input_ids)
        if len(input_ids) - start < N:
            scores = scores.copy(); scores[list(eos)] = -np.inf
        return scores
    real = llm.create_completion
    def cc(*a, **k):
        from llama_cpp import LogitsProcessorList
        return real(*a, logits_processor=LogitsProcessorList([proc]), **k)
    llm.create_completion = cc
    try:
        yield from orig(self, prompt, params)
    finally:
        llm.create_completion = real

llamacpp.LlamaCppGenerator.stream = stream
run([parse_system(f"minlen{N}:adapter=auto")], Path(f"runs/dec/valid-min{N}"), split="valid", limit=limit, bert=False)
