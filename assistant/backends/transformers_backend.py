"""transformers backend: CPU or GPU, optional PEFT (LoRA) adapter, optional 4-bit NF4 (bitsandbytes).

This is the backend for fine-tuned adapters and for GPUs; on our CPUs llama.cpp is about 2x faster.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Iterator, Sequence

from assistant.backends.base import GenerationParams, answer_variants, distinct_first_tokens, shares
from assistant.errors import ModelUnavailable, require


class TransformersGenerator:
    """Generator over a transformers causal LM (folder or hub id), streamed with TextIteratorStreamer."""

    backend = "transformers"

    def __init__(self, model_path: str, *, model_name: str | None = None, adapter: str | None = None,
                 load_in_4bit: bool = False, device: str = "auto", n_threads: int | None = None,
                 context_length: int | None = None, model: Any = None, tokenizer: Any = None) -> None:
        torch = require("torch")
        transformers = require("transformers")
        if n_threads:
            torch.set_num_threads(n_threads)
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        if model is None:
            model, tokenizer = self._load(model_path, load_in_4bit, transformers, torch)
        if adapter:
            peft = require("peft", "pip install peft")
            if not os.path.exists(os.path.join(adapter, "adapter_config.json")) and os.path.exists(adapter):
                raise ModelUnavailable(f"{adapter} is not a PEFT adapter folder (no adapter_config.json).")
            model = peft.PeftModel.from_pretrained(model, adapter)
        self._model = model.eval()
        self._tok = tokenizer
        self.model_name = model_name or os.path.basename(str(model_path).rstrip("/"))
        if adapter:
            self.model_name += "+" + os.path.basename(adapter.rstrip("/"))
        self.context_length = context_length or int(getattr(model.config, "max_position_embeddings", 4096))

    def _load(self, path: str, load_in_4bit: bool, transformers: Any, torch: Any) -> tuple[Any, Any]:
        kwargs: dict[str, Any] = {}
        if load_in_4bit:
            require("bitsandbytes", "pip install bitsandbytes==0.50.2")
            compute = torch.bfloat16 if self.device == "cuda" else torch.float32  # bf16 is very slow on our CPUs
            kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=compute,
            )
            kwargs["device_map"] = {"": self.device if self.device != "cuda" else 0}
        else:
            kwargs["dtype"] = torch.float32 if self.device == "cpu" else torch.bfloat16
        try:
            tok = transformers.AutoTokenizer.from_pretrained(path)
            model = transformers.AutoModelForCausalLM.from_pretrained(path, **kwargs)
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(
                f"Could not load model {path!r} with transformers: {exc}. Give a local folder, or a hub id on a machine that reaches the hub."
            ) from exc
        if not load_in_4bit:
            model = model.to(self.device)
        return model, tok

    @property
    def chat_template(self) -> str | None:
        """The tokenizer's chat template, if it has one."""
        return getattr(self._tok, "chat_template", None)

    @property
    def special_tokens(self) -> dict[str, str]:
        """BOS/EOS token texts of the tokenizer."""
        return {"bos_token": self._tok.bos_token or "", "eos_token": self._tok.eos_token or ""}

    def _encode(self, text: str) -> Any:
        # Rendered prompts carry their own BOS (Llama-2's "<s>"): add no special tokens.
        return self._tok(text, return_tensors="pt", add_special_tokens=False)

    def count_tokens(self, text: str) -> int:
        """Prompt tokens of ``text``."""
        return int(self._encode(text)["input_ids"].shape[1])

    def choice_probabilities(self, prompt: str, choices: Sequence[str]) -> list[float]:
        """The probability that the answer to ``prompt`` starts with each of ``choices`` (normalised over them)."""
        import torch

        inputs = self._encode(prompt).to(self._model.device)
        with torch.inference_mode():
            probs = torch.softmax(self._model(**inputs).logits[0, -1].float(), dim=-1)
        mass = [float(sum(probs[i] for i in ids))
                for ids in distinct_first_tokens(choices, lambda word: first_tokens(self._tok, word))]
        return shares(mass)

    def stream(self, prompt: str, params: GenerationParams) -> Iterator[str]:
        """Generate in a worker thread and yield decoded pieces; closing the iterator stops generation."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        halt = threading.Event()

        class _Halt(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):  # noqa: ANN001, ANN204
                return halt.is_set()

        inputs = self._encode(prompt).to(self._model.device)
        streamer = _TokenStreamer(self._tok)
        kwargs: dict[str, Any] = dict(
            **inputs, max_new_tokens=params.max_new_tokens, streamer=streamer,
            stopping_criteria=StoppingCriteriaList([_Halt()]),
            pad_token_id=self._tok.pad_token_id if self._tok.pad_token_id is not None else self._tok.eos_token_id,
        )
        if params.temperature > 0:
            torch.manual_seed(params.seed)
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                with torch.inference_mode():
                    self._model.generate(**kwargs)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer thread
                errors.append(exc)
                streamer.end()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        text = ""
        try:
            for piece in streamer:
                if not piece:
                    continue
                text += piece
                hit = min((i for s in params.stop if (i := text.find(s)) >= 0), default=-1)
                if hit >= 0:
                    head = text[: hit]
                    already = len(text) - len(piece)
                    if hit > already:
                        yield head[already:]
                    break
                yield piece
        finally:
            halt.set()
            thread.join()
        if errors:
            raise errors[0]


class _TokenStreamer:
    """Streams text token by token (TextIteratorStreamer waits for a space; we want every token).

    Holds text back only while it ends in an incomplete UTF-8 sequence (a split emoji, say).
    """

    def __init__(self, tokenizer: Any) -> None:
        import queue

        self._tok = tokenizer
        self._queue: "queue.Queue[str | None]" = queue.Queue()
        self._ids: list[int] = []
        self._sent = 0
        self._skip_prompt = True

    def put(self, value: Any) -> None:
        if self._skip_prompt:  # generate() first puts the prompt ids
            self._skip_prompt = False
            return
        self._ids.extend(int(v) for v in value.reshape(-1).tolist())
        text = self._tok.decode(self._ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):
            return
        if len(text) > self._sent:
            self._queue.put(text[self._sent:])
            self._sent = len(text)

    def end(self) -> None:
        text = self._tok.decode(self._ids, skip_special_tokens=True)
        if len(text) > self._sent:
            self._queue.put(text[self._sent:])
        self._queue.put(None)

    def __iter__(self) -> Iterator[str]:
        while (piece := self._queue.get()) is not None:
            yield piece


def first_tokens(tokenizer, word: str) -> set[int]:  # noqa: ANN001 - a transformers tokenizer
    """The ids that start an answer ``word`` in any of its spellings (``answer_variants``)."""
    return {ids[0] for v in answer_variants(word) if (ids := tokenizer(v, add_special_tokens=False)["input_ids"])}
