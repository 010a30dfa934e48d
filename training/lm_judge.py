"""Train a language-model audit judge: a LoRA on the top layers of an embedded model, on checks labelled by construction.

    python -m training.lm_judge --out runs/train/qwen05-audit-judge            # the 0.5B, about 1 h on 2 cores
    python -m training.lm_judge --out runs/train/qwen05-audit-judge --resume   # continue a killed run
    python -m eval.audit --model qwen2.5-coder-0.5b-instruct --adapter runs/train/qwen05-audit-judge ...

The examples are ``training.judge_data``'s (TweetSumm train dialogs minus every labelled evaluation dialog; labels by
construction), asked exactly as an audit asks its language-model judge: the check prompt of
``assistant.prompts.check_messages`` (the fenced conversation, the guideline, the message, the question) rendered with
the model's chat template, and P(yes) read from the next token over the spellings of yes and no, as
``choice_probabilities`` reads it. The output is a training run folder (``adapter/``, a PEFT LoRA, and
``adapter.gguf`` for llama.cpp) that ``--audit-adapter`` takes, so the trained judge is served by the same
next-token path, with the conversation's KV cache shared between its checks.

What makes it affordable on a CPU:
- the LoRA sits on the top ``--top-layers`` decoder layers only, so the layers below run once per batch without
  gradients (an audit prompt is ~550 tokens, and most of a step's cost would be the backward pass through them);
- the loss is on one answer token: only the final position goes through the norm, and only the rows of the
  answer tokens of the LM head (a ~150k-row head otherwise costs a quarter of a forward pass per position);
- batches hold prompts of similar length (less padding).
A checkpoint is written every ``--save-every`` steps; ``--resume`` continues from it and refuses when the data or
the recipe changed. Constructed data chooses the recipe; the audit's quality is measured by ``eval.audit`` on human
labels only. The defaults are the run measured in the README (tried, not shipped: it stayed at chance).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path

from assistant.backends.base import distinct_first_tokens
from assistant.conversation import Conversation
from assistant.models import DEFAULT_MODEL, resolve_model
from assistant.prompts import check_messages, renderer_for
from training.checkpoint import add_run_arguments

RECIPE_KEYS = ("base", "examples", "valid", "held_back", "epochs", "batch", "lr", "rank", "top_layers", "max_tokens",
               "seed", "limit_dialogs")
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def shown_conversation(conv: Conversation, example) -> Conversation:  # noqa: ANN001 - a JudgeExample
    """The conversation as the example shows it: its message at ``turn`` replaced by the (edited) one."""
    from training.judge_data import with_turn

    if example.turn is None or conv.turns[example.turn].text == example.message:
        return conv
    return with_turn(conv, example.turn, example.message)


def check_prompt(render, conv: Conversation, example) -> str:  # noqa: ANN001 - messages -> prompt, a JudgeExample
    """The prompt an audit gives its language-model judge for this check."""
    return render(check_messages(shown_conversation(conv, example), example.guideline, example.question, example.turn))


def answer_ids(tokenizer) -> tuple[list[int], list[int]]:  # noqa: ANN001 - a transformers tokenizer
    """The first tokens of the spellings of yes and of no, as the backends' ``choice_probabilities`` count them."""
    from assistant.backends.transformers_backend import first_tokens

    yes, no = distinct_first_tokens(("yes", "no"), lambda word: first_tokens(tokenizer, word))
    return sorted(yes), sorted(no)


class SplitModel:
    """A causal LM run in two parts: the layers below the LoRA without gradients, the top ones with; returns the
    logit of yes against no at each sequence's last token (``log P(yes) - log P(no)``, the spellings summed)."""

    def __init__(self, model, top_layers: int, yes: list[int], no: list[int]) -> None:  # noqa: ANN001
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.inner = base.get_decoder()
        n = len(self.inner.layers)
        if not 0 < top_layers <= n:
            raise ValueError(f"top_layers must be between 1 and the model's {n} layers (got {top_layers})")
        self.cut = n - top_layers
        self.head = base.get_output_embeddings()
        self.rows = yes + no
        self.n_yes = len(yes)

    def _layers(self, hidden, layers, positions):  # noqa: ANN001, ANN202 - tensors
        rope = self.inner.rotary_emb(hidden, positions)
        for layer in layers:
            # no mask: causal attention, and right padding never precedes a real token
            hidden = layer(hidden, attention_mask=None, position_ids=positions, position_embeddings=rope)
        return hidden

    def __call__(self, ids, lengths):  # noqa: ANN001, ANN204 - (B, n) token ids, (B,) lengths
        import torch

        positions = torch.arange(ids.shape[1]).unsqueeze(0)
        with torch.no_grad():
            hidden = self._layers(self.inner.embed_tokens(ids), self.inner.layers[:self.cut], positions)
        hidden = self._layers(hidden, self.inner.layers[self.cut:], positions)
        last = self.inner.norm(hidden[torch.arange(ids.shape[0]), lengths - 1])
        logits = last @ self.head.weight[self.rows].T
        if getattr(self.head, "bias", None) is not None:
            logits = logits + self.head.bias[self.rows]
        logits = logits.float()
        return (torch.logsumexp(logits[:, :self.n_yes], dim=-1)
                - torch.logsumexp(logits[:, self.n_yes:], dim=-1))


def agrees(split_model: SplitModel, judge, tokenizer, prompt: str) -> None:  # noqa: ANN001 - a Generator, its tokenizer
    """Stop unless the split forward gives the P(yes) the serving path reads on ``prompt`` (a model family whose
    forward does more than embed, rotate, attend causally and normalise would be trained on the wrong thing)."""
    import torch

    with torch.no_grad():
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        mine = torch.sigmoid(split_model(*pad([ids], 0)))[0].item()
    served = judge.choice_probabilities(prompt, ("yes", "no"))[0]
    if abs(mine - served) > 1e-3:
        raise SystemExit(f"The split forward gives P(yes) {mine:.4f} where the model gives {served:.4f}: this model "
                         "family is not supported by training.lm_judge.")


def batches(lengths: list[int], size: int, seed: int) -> list[list[int]]:
    """Indices in batches of ``size`` whose lengths are close (sorted within shuffled pools of 32 batches), in a
    shuffled order; the same for the same seed."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = size * 32
    out = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=lengths.__getitem__)
        out += [chunk[i:i + size] for i in range(0, len(chunk), size)]
    rng.shuffle(out)
    return out


def pad(rows: list[list[int]], pad_id: int):  # noqa: ANN201 - (ids, lengths) tensors
    """Right-padded token ids and each row's length."""
    import torch

    width = max(map(len, rows))
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
    return ids, torch.tensor([len(r) for r in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train a language-model audit judge (a LoRA on its top layers) on checks labelled by construction.")
    parser.add_argument("--out", default="runs/train/qwen05-audit-judge", help="training run folder")
    parser.add_argument("--base", default=DEFAULT_MODEL, help="embedded model name, a local folder or a hub id")
    add_run_arguments(parser, examples=960, valid=60, held_back=40, batch=4, lr=2e-4, save_every=20)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--top-layers", dest="top_layers", type=int, default=6, help="decoder layers that get the LoRA")
    parser.add_argument("--max-tokens", dest="max_tokens", type=int, default=1024, help="longer check prompts are left out")
    parser.add_argument("--no-gguf", dest="gguf", action="store_false", help="skip the llama.cpp export")
    args = parser.parse_args(argv)
    if args.top_layers < 1:
        parser.error("--top-layers must be at least 1")

    import torch
    from peft import LoraConfig, get_peft_model
    from tqdm import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from assistant.backends.transformers_backend import TransformersGenerator
    from training.checkpoint import Checkpoint
    from training.checkpoint import train as train_loop
    from training.encoder_judge import portable_base, summarize_split
    from training.judge_data import build_splits, data_card
    from training.tweetsumm import load_split

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    recipe = {k: getattr(args, k) for k in RECIPE_KEYS}
    convs = load_split("train", args.data_dir, args.limit_dialogs)
    by_id = {c.conversation_id: c for c in convs}
    splits = build_splits(convs, args.examples, args.valid, args.held_back, args.seed)
    splits.pop("reversed")  # the audit drops negated wordings where a positive one exists; not measured here
    (out / "DATA_CARD.md").write_text(data_card(splits, args.seed), encoding="utf-8")

    path = resolve_model(args.base, "transformers").path
    tokenizer = AutoTokenizer.from_pretrained(path)
    # sdpa: attention without a mask is causal there (SplitModel relies on it; eager would attend both ways)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="sdpa")
    n_layers = model.config.num_hidden_layers
    top = min(args.top_layers, n_layers)
    lora = LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.05, target_modules=list(TARGETS),
                      layers_to_transform=list(range(n_layers - top, n_layers)), layers_pattern="layers",
                      task_type="CAUSAL_LM")
    torch.manual_seed(args.seed)
    model = get_peft_model(model, lora)
    judge = TransformersGenerator(path, model=model, tokenizer=tokenizer, model_name=args.base)
    render = renderer_for(judge)
    yes, no = answer_ids(tokenizer)
    if not yes or not no:
        raise SystemExit(f"{args.base}'s tokenizer has no first token proper to yes or to no: it cannot be a yes/no judge.")
    split_model = SplitModel(model, top, yes, no)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def encode(examples: list) -> tuple[list, list[list[int]]]:
        kept, rows = [], []
        for e in examples:
            ids = tokenizer(check_prompt(render, by_id[e.conversation_id], e), add_special_tokens=False)["input_ids"]
            if len(ids) <= args.max_tokens:
                kept.append(e)
                rows.append(ids)
        return kept, rows

    train, rows = encode(splits["train"])
    if not train:
        raise SystemExit(f"None of the {len(splits['train'])} training checks fits in {args.max_tokens} tokens: "
                         "raise --max-tokens (up to the model's context).")
    fingerprint = hashlib.sha256(json.dumps([recipe, rows, [e.label for e in train]]).encode()).hexdigest()[:16]
    agrees(split_model, judge, tokenizer, check_prompt(render, by_id[train[0].conversation_id], train[0]))
    plan = [b for epoch in range(args.epochs) for b in batches([len(r) for r in rows], args.batch, args.seed + epoch)]
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=max(1, len(plan)),
                                                    pct_start=0.06, anneal_strategy="linear")
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    checkpoint = Checkpoint(out, fingerprint, recipe)
    step = checkpoint.restore(model, optimizer, scheduler) if args.resume else checkpoint.start_afresh()
    print(f"{len(train)} training checks ({len(splits['train']) - len(train)} longer than {args.max_tokens} tokens "
          f"left out), {len(plan)} steps; LoRA on the top {top} of {n_layers} layers", file=sys.stderr)

    def loss_at(step: int):  # noqa: ANN202 - a tensor
        batch = plan[step]
        labels = torch.tensor([float(train[i].label == "yes") for i in batch])
        return torch.nn.functional.binary_cross_entropy_with_logits(
            split_model(*pad([rows[i] for i in batch], pad_id)), labels)

    model.train()
    seconds = train_loop(loss_at, len(plan), step, model=model, names=names, optimizer=optimizer, scheduler=scheduler,
                         checkpoint=checkpoint, save_every=args.save_every)

    model.eval()
    metrics = {"recipe": recipe, "fingerprint": fingerprint, "steps": len(plan), "train_checks": len(train),
               "train_seconds": round(seconds, 1)}

    def score(kept: list, encoded: list[list[int]]) -> dict:
        scores = []
        for start in tqdm(range(0, len(encoded), args.batch), desc="scoring", unit="batch", leave=False):
            with torch.no_grad():
                scores += torch.sigmoid(split_model(*pad(encoded[start:start + args.batch], pad_id))).tolist()
        return summarize_split(kept, scores)

    for name in ("valid", "held_back"):
        kept, encoded = encode(splits[name])
        metrics[name] = {**score(kept, encoded), "left_out_longer_than_max_tokens": len(splits[name]) - len(kept)}
        with model.disable_adapter():  # the same checks asked of the base model: what training changed
            metrics[name]["base_auc"] = score(kept, encoded)["auc"]
        print(f"{name}: AUC {metrics[name]['auc']} (base model {metrics[name]['base_auc']}), "
              f"accuracy {metrics[name]['accuracy']}", file=sys.stderr)
    model.save_pretrained(str(out / "adapter"))
    (out / "adapter" / "README.md").unlink(missing_ok=True)  # peft's template card; metrics.json says it all
    portable_base(out / "adapter" / "adapter_config.json", args.base)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    checkpoint.remove()
    if args.gguf:
        from assistant.errors import SupportLensError
        from training.export_gguf import export

        try:
            export(out / "adapter", out / "adapter.gguf")
        except SupportLensError as exc:
            print(f"The adapter is in {out / 'adapter'} (the transformers backend takes it), but its llama.cpp export "
                  f"failed: {exc}\nRetry with: python -m training.export_gguf --adapter {out / 'adapter'} "
                  f"--out {out / 'adapter.gguf'}", file=sys.stderr)
            return 1
    print(f"judge adapter written to {out} (audit with it: --audit-model {args.base} --audit-adapter {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
