"""Train the audit judge: the all-MiniLM-L6-v2 cross-encoder fine-tuned on checks labelled by construction.

    python -m training.encoder_judge --out runs/train/minilm-audit-judge            # about 35 min on 2 cores
    python -m training.encoder_judge --out runs/train/minilm-audit-judge --resume   # continue a killed run
    python -m training.encoder_judge --base FOLDER --out runs/train/other-judge      # another encoder (BERT, MPNet)

The examples come from ``training.judge_data`` (TweetSumm train dialogs minus every labelled evaluation dialog;
labels by construction). The judge reads (guideline + question, message) pairs (``assistant.encoder_judge.check_pair``)
and is trained with cross-entropy on yes / no: every linear weight of the encoder's layers, the pooler and a fresh
yes/no head (embeddings, layer norms and biases stay as shipped). What ships is small: each weight's change is cut
to its best rank-``--rank`` approximation (SVD) and written as a PEFT LoRA adapter, with the pooler and head whole (a
few MB). Measured here: LoRA trained directly did not learn on this budget (loss at chance after 180 steps at lr
1e-3, slowly at 5e-4), while the full fine-tune did; the loss stays at chance for the first 100-150 steps (the
shipped encoder's pooler output hardly varies), so a run of fewer steps learns nothing.
The output folder is a judge folder (``judge.json`` and the adapter) that ``--audit-judge FOLDER`` uses, with
``metrics.json`` (AUC of the shipped adapter, and of the full fine-tune it was cut from, on every split but training:
validation, held-back and reversed-wording; per rule type), ``metrics.jsonl`` (the training loss) and the data card.
``--keep-full`` keeps the full fine-tune beside the adapter, to cut it again at another rank. A checkpoint is written
every ``--save-every`` steps; ``--resume`` continues from it and refuses when the data or the
recipe changed. Constructed data chooses the recipe; the audit's quality is measured by ``eval.audit`` on human labels
only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path

from assistant.encoder_judge import JUDGE_FILE, PAIR_FORMAT, encode_pairs
from assistant.models import EMBEDDED_ENCODER, encoder_path
from training.checkpoint import add_run_arguments

RECIPE_KEYS = ("base", "examples", "valid", "held_back", "reversed", "epochs", "batch", "lr", "max_length", "seed",
               "limit_dialogs")


def auc(labels: list[bool], scores: list[float]) -> float | None:
    """Area under the ROC curve (ties count half); None when one class is missing."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def summarize_split(examples: list, scores: list[float]) -> dict:
    """AUC and accuracy at 0.5 over a split, and AUC per rule type."""
    labels = [e.label == "yes" for e in examples]
    per_rule = {}
    for rule in sorted({e.rule_type for e in examples}):
        idx = [i for i, e in enumerate(examples) if e.rule_type == rule]
        value = auc([labels[i] for i in idx], [scores[i] for i in idx])
        if value is not None:
            per_rule[rule] = round(value, 3)
    overall = auc(labels, scores)
    return {"n": len(examples), "auc": None if overall is None else round(overall, 4),
            "accuracy": round(sum((s > 0.5) == y for s, y in zip(scores, labels)) / max(1, len(labels)), 4),
            "auc_per_rule_type": per_rule}


def load_encoder(base: str):  # noqa: ANN201 - a transformers model
    """The base encoder (BERT, MPNet or another architecture with encoder layers) with a fresh yes/no head."""
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(encoder_path(base), num_labels=2)


def linear_names(model) -> list[str]:  # noqa: ANN001
    """The names of the linear layers inside the encoder's layers (BERT: query, key, value, dense; MPNet: q, k, v,
    o, dense)."""
    import torch

    return sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                   if ".encoder.layer." in n and isinstance(m, torch.nn.Linear)})


def trainable(model) -> list[str]:  # noqa: ANN001
    """Names of the parameters the judge trains: the linear weights of the encoder layers, the pooler (where the
    architecture has one) and the head."""
    targets = set(linear_names(model))
    return [n for n, _ in model.named_parameters()
            if (".encoder.layer." in n and n.endswith(".weight") and n.split(".")[-2] in targets)
            or ".pooler." in n or n.startswith("classifier.")]


def build_model(base: str, rank: int):  # noqa: ANN201 - a PEFT model
    """The base encoder as a PEFT model with a rank-``rank`` LoRA on every linear layer of its encoder layers (zero:
    the base itself), the pooler (where there is one) and the head saved whole."""
    from peft import LoraConfig, get_peft_model

    encoder = load_encoder(base)
    saved = ["classifier"] + (["pooler"] if any(".pooler." in n for n, _ in encoder.named_parameters()) else [])
    lora = LoraConfig(r=rank, lora_alpha=rank, lora_dropout=0.0, task_type="SEQ_CLS",
                      target_modules=linear_names(encoder), modules_to_save=saved)
    return get_peft_model(encoder, lora)


def extract_adapter(tuned, base: str, rank: int):  # noqa: ANN001, ANN201 - models
    """A PEFT model on ``base`` whose LoRA holds each encoder weight's change in ``tuned`` cut to rank ``rank`` (the
    best approximation of that rank, by SVD), with ``tuned``'s pooler and head."""
    import torch

    adapter = build_model(base, rank)
    tuned_params = dict(tuned.named_parameters())
    with torch.no_grad():
        for name, module in adapter.named_modules():
            if not hasattr(module, "lora_A") or "default" not in module.lora_A:
                continue
            key = name.split("base_model.model.", 1)[1] + ".weight"
            delta = tuned_params[key].float() - module.base_layer.weight.float()
            u, s, vh = torch.linalg.svd(delta, full_matrices=False)
            root = s[:rank].sqrt()
            module.lora_B["default"].weight.copy_(u[:, :rank] * root)
            module.lora_A["default"].weight.copy_(root[:, None] * vh[:rank])
        for name, param in adapter.named_parameters():
            if "modules_to_save" in name:
                key = name.split("base_model.model.", 1)[1].replace(".modules_to_save.default", "")
                param.copy_(tuned_params[key])
    return adapter


def portable_base(adapter_config: Path, base: str) -> None:
    """Record the base encoder by name rather than by this machine's path (judge.json names it too)."""
    config = json.loads(adapter_config.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base
    adapter_config.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the audit judge (a cross-encoder, shipped in LoRA form) on checks labelled by construction.")
    parser.add_argument("--out", default="runs/train/minilm-audit-judge", help="judge folder")
    parser.add_argument("--base", default=EMBEDDED_ENCODER, help="encoder: the embedded all-MiniLM-L6-v2, a folder or a hub id")
    add_run_arguments(parser, examples=10000, valid=400, held_back=400, batch=16, lr=5e-5, save_every=100)
    parser.add_argument("--reversed", type=int, default=400)
    parser.add_argument("--rank", type=int, default=32, help="rank of the shipped adapter cut from the fine-tune")
    parser.add_argument("--max-length", dest="max_length", type=int, default=320, help="tokens the judge reads")
    parser.add_argument("--keep-full", dest="keep_full", action="store_true",
                        help="also keep the full fine-tune in OUT/full-fine-tune (the encoder's size), to cut it again "
                             "at another --rank")
    args = parser.parse_args(argv)

    import torch
    from tqdm import tqdm
    from transformers import AutoTokenizer

    from training.checkpoint import Checkpoint
    from training.checkpoint import train as train_loop
    from training.judge_data import build_splits, data_card
    from training.tweetsumm import load_split

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    recipe = {k: getattr(args, k) for k in RECIPE_KEYS}
    convs = load_split("train", args.data_dir, args.limit_dialogs)
    splits = build_splits(convs, args.examples, args.valid, args.held_back, args.seed, args.reversed)
    fingerprint = hashlib.sha256(json.dumps(
        [recipe, [(e.first, e.second, e.label) for e in splits["train"]]], sort_keys=True).encode()).hexdigest()[:16]
    (out / "DATA_CARD.md").write_text(data_card(splits, args.seed), encoding="utf-8")

    torch.manual_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(encoder_path(args.base))
    model = load_encoder(args.base)
    names = set(trainable(model))
    for name, param in model.named_parameters():
        param.requires_grad = name in names
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    per_epoch = max(1, len(splits["train"]) // args.batch)
    total = max(1, per_epoch * args.epochs)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=total, pct_start=0.06,
                                                    anneal_strategy="linear")
    checkpoint = Checkpoint(out, fingerprint, recipe)
    step = checkpoint.restore(model, optimizer, scheduler) if args.resume else checkpoint.start_afresh()

    def encode(batch: list):  # noqa: ANN202
        return encode_pairs(tokenizer, [(e.first, e.second) for e in batch], args.max_length)

    def loss_at(step: int):  # noqa: ANN202 - a tensor
        epoch, index = divmod(step, per_epoch)
        order = list(splits["train"])
        random.Random(args.seed + epoch).shuffle(order)
        batch = order[index * args.batch:(index + 1) * args.batch]
        labels = torch.tensor([e.label == "yes" for e in batch], dtype=torch.long)
        return torch.nn.functional.cross_entropy(model(**encode(batch)).logits, labels)

    model.train()
    seconds = train_loop(loss_at, total, step, model=model, names=names, optimizer=optimizer, scheduler=scheduler,
                         checkpoint=checkpoint, save_every=args.save_every, log_every=20)

    model.eval()
    adapter = extract_adapter(model, args.base, args.rank).eval()
    metrics = {"recipe": recipe, "rank": args.rank, "fingerprint": fingerprint, "steps": total,
               "train_seconds": round(seconds, 1)}

    def score(judge, examples: list) -> list[float]:  # noqa: ANN001
        scores = []
        for start in tqdm(range(0, len(examples), 32), desc="scoring", unit="batch", leave=False):
            with torch.no_grad():
                scores += torch.softmax(judge(**encode(examples[start:start + 32])).logits, dim=-1)[:, 1].tolist()
        return scores

    measured = [name for name in splits if name != "train"]
    for name in measured:
        metrics[name] = summarize_split(splits[name], score(adapter, splits[name]))
        metrics[name]["full_fine_tune_auc"] = summarize_split(splits[name], score(model, splits[name]))["auc"]
        print(f"{name}: AUC {metrics[name]['auc']} (full fine-tune {metrics[name]['full_fine_tune_auc']}), "
              f"accuracy {metrics[name]['accuracy']}", file=sys.stderr)
    if args.keep_full:
        model.save_pretrained(str(out / "full-fine-tune"))
        tokenizer.save_pretrained(str(out / "full-fine-tune"))
    adapter.half().save_pretrained(str(out))  # fp16: half the size; loaded back into the fp32 encoder
    (out / "README.md").unlink(missing_ok=True)  # peft's template model card; judge.json and metrics.json say it all
    portable_base(out / "adapter_config.json", args.base)
    card = {"name": out.name, "base": args.base, "max_length": args.max_length, "pair_format": PAIR_FORMAT,
            "trained_by": "python -m training.encoder_judge " + " ".join(argv if argv is not None else sys.argv[1:]),
            "constructed_auc": {k: metrics[k]["auc"] for k in measured},
            "yes_bias": 0.0, "many_bias": 0.0, "trigger_bias": 0.0}  # set to those eval.audit --calibrate chooses on the labelled dev sets
    (out / JUDGE_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    checkpoint.remove()
    print(f"judge written to {out} (use it with --audit-judge {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
