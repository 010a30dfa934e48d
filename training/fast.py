"""A faster SFT loss for CPUs: project only the summary positions through the LM head.

TRL's fused LM head scores only the labelled positions on Triton (GPU) devices; elsewhere it scores every
position to keep tile shapes static. On our CPUs that spends most of the LM-head work (Qwen's head is
896 x 151,936, about 28% of the model's multiply-adds per token) on prompt positions whose loss is
masked anyway: a TweetSumm example is ~340 prompt tokens and ~40 summary tokens. ``CompletionOnlyLossTrainer``
runs the decoder, gathers the hidden states of the positions that have a label, and applies the head and
cross-entropy to those only. The loss is the same quantity as TRL's (sum of token losses divided by the
same token count), so validation losses are comparable and a test checks the two trainers take the
same optimizer step.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from trl import SFTTrainer


def _decoder_and_head(model: Any) -> tuple[Any, Any]:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_decoder(), base.get_output_embeddings()


class CompletionOnlyLossTrainer(SFTTrainer):
    """SFTTrainer whose loss projects only labelled positions through the LM head."""

    def compute_loss(self, model: Any, inputs: dict, return_outputs: bool = False, num_items_in_batch: Any = None):
        labels = inputs["labels"]
        decoder, head = _decoder_and_head(model)
        forward = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask", "position_ids")}
        hidden = decoder(**forward, use_cache=False).last_hidden_state
        targets = labels[:, 1:]
        mask = targets != -100
        selected = hidden[:, :-1][mask]
        logits = head(selected).float()
        token_loss = F.cross_entropy(logits, targets[mask], reduction="sum")
        count = mask.sum() if num_items_in_batch is None else num_items_in_batch
        loss = token_loss / torch.as_tensor(count, device=token_loss.device).clamp(min=1)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes  # as TRL: DDP averages gradients across ranks
        return (loss, {}) if return_outputs else loss
