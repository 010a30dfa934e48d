"""SupportLens web app for support managers: paste a conversation, get a streaming summary.

    python app.py                                  # http://127.0.0.1:7860, embedded default model
    SUPPORTLENS_AUTH=alice:secret python app.py --host 0.0.0.0    # exposed: a login is required

Only UI wiring lives here; the logic is in ``assistant`` (service, summarize, access).
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from assistant.access import check_exposure, load_credentials  # noqa: E402
from assistant.config import load_config  # noqa: E402
from assistant.errors import SupportLensError  # noqa: E402
from assistant.service import Example, SummaryService, example_conversations  # noqa: E402

PLACEHOLDER = "Customer: my order hasn't arrived...\nAgent: Sorry to hear that, can you DM us the order number?"


def build_app(service: SummaryService, examples: list[Example], status: str = ""):  # noqa: ANN201 - gr.Blocks
    """The Gradio Blocks app around ``service``."""
    import gradio as gr

    def respond(text: str, history: list[dict]):  # noqa: ANN202 - Gradio generator
        before = list(history or [])
        if not (text or "").strip():
            raise gr.Error("Paste a conversation first (one turn per line, e.g. 'Customer: ...' / 'Agent: ...').")
        history = [*before, {"role": "user", "content": text}, {"role": "assistant", "content": "…"}]
        try:
            for partial in service.stream_summary(text):
                history[-1]["content"] = partial
                yield history, text  # the paste stays in the box until the summary is complete
        except SupportLensError as exc:
            yield before, text  # no half-made summary left in the chat; the paste is kept
            raise gr.Error(str(exc), print_exception=False) from exc
        yield history, ""

    with gr.Blocks(title="SupportLens") as demo:
        gr.Markdown("# SupportLens\nPaste a customer-support conversation and get a short summary.")
        model_info = gr.Markdown(status or f"Model: **{service.model_label}**")
        with gr.Tab("Chat"):
            chat = gr.Chatbot(label="Summaries", height=420, buttons=["copy"])
            box = gr.Textbox(label="Conversation", lines=8, max_lines=20, placeholder=PLACEHOLDER)
            with gr.Row():
                send = gr.Button("Summarize", variant="primary")
                clear = gr.Button("Clear")
            gr.Examples(examples=[[e.text] for e in examples], inputs=[box],
                        example_labels=[e.title for e in examples], label="Example conversations")
        send.click(respond, [box, chat], [chat, box], api_name="summarize")
        box.submit(respond, [box, chat], [chat, box])
        clear.click(lambda: ([], ""), None, [chat, box])
        demo.load(lambda: f"Model: **{service.model_label}**" if not status else status, None, model_info)
    return demo


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, load the model once, and serve the app."""
    parser = argparse.ArgumentParser(description="SupportLens web app")
    parser.add_argument("--host", default=os.environ.get("SUPPORTLENS_HOST", "127.0.0.1"), help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("SUPPORTLENS_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="create a public share link (needs a login)")
    parser.add_argument("--auth-file", help="file of user:password lines (else $SUPPORTLENS_AUTH)")
    parser.add_argument("--config", help="assistant YAML config (model, backend...)")
    parser.add_argument("--model", help="override the model (embedded name, path or hub id)")
    parser.add_argument("--backend", help="override the backend: llamacpp, transformers or openai")
    parser.add_argument("--adapter", help="auto (default: the shipped TweetSumm adapter), none (base model), a run folder, PEFT folder or LoRA .gguf")
    args = parser.parse_args(argv)
    try:
        credentials = load_credentials(args.auth_file)
        check_exposure(args.host, args.share, credentials)
        config = load_config(args.config, model=args.model, backend=args.backend, adapter=args.adapter)
    except SupportLensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    service = SummaryService(config)
    status = ""
    try:
        print(f"Loading {config.model} ({config.backend})...", file=sys.stderr, flush=True)
        service.load()
    except SupportLensError as exc:  # serve anyway and show how to fix it; each request retries the load
        status = f"⚠️ The model could not be loaded: {exc}"
        print(f"warning: {exc}", file=sys.stderr)
    demo = build_app(service, example_conversations(), status)
    demo.queue(default_concurrency_limit=4, max_size=64)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share,
                auth=credentials or None, auth_message="SupportLens: please log in.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
