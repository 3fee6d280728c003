"""Overhead of ethan's llama.cpp backend against calling llama-cpp-python directly.

Both sides run the same prompt (the ``gps`` template with a photo) on the same loaded
model: ``Llama.create_chat_completion`` called by hand, and ``LlamaCppBackend.generate``
(message mapping, context check, worker thread, asyncio). Greedy decoding makes both write
the same tokens; rounds alternate (ABBA) so drift hits both sides alike.

Printed per side: median wall and CPU seconds of a call (CPU time of the whole process is
immune to other processes on a busy machine), prompt seconds (a 1-token call) and decode
speed, tokens/s = (tokens - 1) / (call - prompt); then the ratios ethan/direct (target
<= 1.05 for the free-text overhead). The constrained rows compare our grammar constraint
with llama-cpp-python's own grammar sampling on the same grammar: there the point is
decode speed (ours also closes the answer before the budget, so it writes fewer tokens).

    python eval/bench/llama_overhead.py                      # Gemma 3 270M + tiny projector
    python eval/bench/llama_overhead.py --model m.gguf --mmproj p.gguf --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ethan.backends.base import GenerateConfig, Message  # noqa: E402
from ethan.backends.llama_cpp import LlamaCppBackend  # noqa: E402
from ethan.backends.llama_prompt import to_chat  # noqa: E402
from ethan.backends.llama_schema import schema_to_gbnf  # noqa: E402
from ethan.images import prepare_image  # noqa: E402
from ethan.prompts import build_messages  # noqa: E402
from ethan.types import ModelAnswer  # noqa: E402

PHOTO = ROOT.parent / "shared" / "corpus" / "streetview-dev" / "images" / "8.jpg"
Call = Callable[[int], int]  # max_tokens -> completion tokens


def timed(call: Call, max_tokens: int) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds of this process (every thread) and tokens of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    tokens = call(max_tokens)
    return time.perf_counter() - wall, time.process_time() - cpu, tokens


def compare(label: str, sides: dict[str, Call], max_tokens: int, rounds: int) -> None:
    for call in sides.values():
        call(max_tokens)  # warm up
    runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in sides}
    prompt: dict[str, list[float]] = {name: [] for name in sides}
    for i in range(rounds):
        order = list(sides) if i % 2 == 0 else list(reversed(sides))
        for name in order:
            runs[name].append(timed(sides[name], max_tokens))
            prompt[name].append(timed(sides[name], 1)[0])
    stats: dict[str, dict[str, float]] = {}
    for name, samples in runs.items():
        wall = statistics.median(w for w, _, _ in samples)
        first = statistics.median(prompt[name])
        tokens = samples[-1][2]
        stats[name] = {
            "wall": wall,
            "cpu": statistics.median(c for _, c, _ in samples),
            "prompt": first,
            "tokens": tokens,
            "rate": (tokens - 1) / max(wall - first, 1e-9),
        }
        s = stats[name]
        print(
            f"{label:<12} {name:<7} wall {s['wall']:7.3f}s  cpu {s['cpu']:7.3f}s  "
            f"prompt {s['prompt']:6.3f}s  {tokens:4d} tokens  decode {s['rate']:6.1f} tok/s"
        )
    a, b = stats["ethan"], stats["direct"]
    print(
        f"{label:<12} ratio ethan/direct: wall {a['wall'] / b['wall']:.3f}  "
        f"cpu {a['cpu'] / b['cpu']:.3f}  decode tok/s {a['rate'] / b['rate']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF model (default: Gemma 3 270M from PyPI)")
    parser.add_argument("--mmproj", help="projector GGUF (default: a tiny random one)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=64, help="free-text answers")
    parser.add_argument("--max-tokens-json", type=int, default=300, help="constrained ones")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    from llama_cpp import LlamaGrammar

    from tests.tiny_mmproj import build_tiny_mmproj, gemma_270m

    model = args.model or str(gemma_270m())
    mmproj = args.mmproj or str(build_tiny_mmproj(Path(tempfile.mkdtemp()) / "tiny.gguf"))
    settings: dict[str, Any] = {"mmproj": mmproj, "n_ctx": 4096, "threads": args.threads}
    constrained = LlamaCppBackend(model, **settings)
    free = LlamaCppBackend(model, constrain=False, **settings)
    assert free._engine is constrained._engine, "both share one loaded model"
    constrained.load()
    llama: Any = constrained._engine.llama
    messages: list[Message] = build_messages("gps", prepare_image(PHOTO, max_side=512).part())
    chat = [to_chat(m, multimodal=True) for m in messages]
    schema = ModelAnswer.model_json_schema()
    o = constrained.options
    gbnf = schema_to_gbnf(schema, max_items=o.max_items, max_string=o.max_string)
    grammar = LlamaGrammar.from_string(gbnf, verbose=False)
    loop = asyncio.new_event_loop()
    print(f"model {Path(model).name}, projector {Path(mmproj).name}, handler {free.handler}")

    def ours(backend: LlamaCppBackend, json_schema: dict[str, Any] | None) -> Call:
        def call(max_tokens: int) -> int:
            config = GenerateConfig(
                max_tokens=max_tokens, temperature=0.0, seed=1, json_schema=json_schema
            )
            output = loop.run_until_complete(backend.generate(messages, config))
            return output.usage.completion_tokens

        return call

    def direct(**extra: Any) -> Call:
        def call(max_tokens: int) -> int:
            llama.reset()
            out = llama.create_chat_completion(
                messages=chat, max_tokens=max_tokens, temperature=0.0, seed=1, **extra
            )
            return int(out["usage"]["completion_tokens"])

        return call

    free_sides = {"ethan": ours(free, None), "direct": direct()}
    compare("free text", free_sides, args.max_tokens, args.rounds)
    json_sides = {"ethan": ours(constrained, schema), "direct": direct(grammar=grammar)}
    compare("constrained", json_sides, args.max_tokens_json, args.rounds)
    loop.close()


if __name__ == "__main__":
    main()
