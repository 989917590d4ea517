"""One chat interface over two engines: a vLLM server (fast, batched) and transformers (always there).

    backend = open_backend("default", {"tuned": "runs/r1/adapter"})    # vLLM if it starts, else transformers
    for delta in backend.stream("tuned", [{"role": "user", "content": "Hi"}], Sampling(max_tokens=64)):
        print(delta, end="")
    backend.close()

Both apply the base model's chat template, so the same messages and `Sampling` give base and tuned the same
prompt. The base answers as `base`; an adapter (a folder with adapter_config.json) or a fully fine-tuned
model (a folder with config.json) answers under the name it was added with. When `backend="auto"` falls back
to transformers, `backend.fallback_reason` says why, for the UI to show.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from tools.models.resolve import resolve_model
from tools.serve.server import ServeConfig, ServeError, VLLMServer, error_text, start_server

BASE = "base"
BackendName = Literal["auto", "vllm", "transformers"]


class Sampling(BaseModel):
    """Decoding settings shared by both sides of a comparison. temperature 0 means greedy."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(256, ge=1, le=8192)
    seed: int | None = 0


@runtime_checkable
class ChatBackend(Protocol):
    kind: str
    fallback_reason: str | None

    def models(self) -> dict[str, str]:
        """Served name -> the folder it comes from."""

    def chat(self, model: str, messages: list[dict], sampling: Sampling) -> str: ...

    def stream(self, model: str, messages: list[dict], sampling: Sampling) -> Iterator[str]: ...

    def add_adapter(self, name: str, path: str | Path) -> None: ...

    def add_model(self, name: str, path: str | Path) -> None: ...

    def remove_adapter(self, name: str) -> None:
        """Stop serving the tuned model `name` (an adapter, or a fully fine-tuned model) and free what it held;
        adding it again serves it again. `SharedBackends` unloads the least recently used ones this way."""

    def alive(self) -> bool:
        """False once the engine can no longer answer (a vLLM server that died); SharedBackends reopens it."""

    def close(self) -> None: ...


def is_adapter(path: str | Path) -> bool:
    return (Path(path) / "adapter_config.json").is_file()


def check_tuned(path: str | Path) -> Path:
    """The folder of a run's output, or FileNotFoundError saying what a tuned model folder must hold."""
    folder = Path(path).expanduser()
    if not is_adapter(folder) and not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} is neither a PEFT adapter (adapter_config.json) nor a model (config.json)")
    return folder


def add_tuned(backend: ChatBackend, name: str, path: str | Path) -> None:
    """Add a run's output under `name`: a PEFT adapter, or a fully fine-tuned model as a second model."""
    folder = check_tuned(path)
    if is_adapter(folder):
        backend.add_adapter(name, folder)
    else:
        backend.add_model(name, folder)


def open_backend(
    base: str = "default",
    adapters: dict[str, str] | None = None,
    backend: BackendName = "auto",
    serve: ServeConfig | None = None,
) -> ChatBackend:
    """Serve `base` plus `adapters` (name -> adapter or full-model folder) with the chosen engine.

    "auto" tries vLLM and falls back to transformers when vLLM is missing or fails to start; the returned
    backend's `fallback_reason` then holds the reason. "vllm" raises ServeError instead of falling back.
    """
    adapters = dict(adapters or {})
    for path in adapters.values():
        check_tuned(path)  # before any model loads: a typo should cost a second, not a minute
    if backend in ("auto", "vllm"):
        try:
            return VLLMBackend.start(base, adapters, serve)
        except ServeError as exc:
            if backend == "vllm":
                raise
            reason = f"vLLM unavailable, using transformers: {exc}"
    else:
        reason = None
    chosen = TransformersBackend(base)
    chosen.fallback_reason = reason
    for name, path in adapters.items():
        add_tuned(chosen, name, path)
    return chosen


# --- vLLM over HTTP -------------------------------------------------------------------------------------


def _weights_gb(model: str) -> float:
    """Size of a local model folder's weight files in GB (0 when it is not a local folder)."""
    folder = Path(model)
    if not folder.is_dir():
        return 0.0
    return sum(f.stat().st_size for f in folder.glob("*.safetensors")) / 1e9


def openai_payload(model: str, messages: list[dict], sampling: Sampling, stream: bool) -> dict:
    body = {"model": model, "messages": messages, "temperature": sampling.temperature, "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens, "stream": stream}  # fmt: skip
    if sampling.seed is not None:
        body["seed"] = sampling.seed
    return body


def openai_chat(url: str, model: str, messages: list[dict], sampling: Sampling, api_key: str | None = None,
                timeout: float = 600) -> str:  # fmt: skip
    """One chat completion from any OpenAI-compatible server; `url` may end with `/v1` or not."""
    import httpx

    resp = httpx.post(_endpoint(url), json=openai_payload(model, messages, sampling, False),
                      headers=_headers(api_key), timeout=timeout)  # fmt: skip
    _raise_for(resp, model)
    return resp.json()["choices"][0]["message"].get("content") or ""


def openai_stream(url: str, model: str, messages: list[dict], sampling: Sampling, api_key: str | None = None,
                  timeout: float = 600) -> Iterator[str]:  # fmt: skip
    """Text deltas of a streamed chat completion (server-sent events)."""
    import httpx

    body = openai_payload(model, messages, sampling, True)
    with httpx.stream("POST", _endpoint(url), json=body, headers=_headers(api_key), timeout=timeout) as resp:
        if resp.status_code != 200:
            resp.read()
            _raise_for(resp, model)
        for line in resp.iter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return
            choices = json.loads(data).get("choices") or [{}]
            delta = (choices[0].get("delta") or {}).get("content")
            if delta:
                yield delta


def _endpoint(url: str) -> str:
    url = url.rstrip("/")
    return f"{url}/chat/completions" if url.endswith("/v1") else f"{url}/v1/chat/completions"


def _headers(api_key: str | None) -> dict:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _raise_for(resp, model: str) -> None:
    if resp.status_code != 200:
        raise ServeError(f"model '{model}' failed to answer (HTTP {resp.status_code}): {error_text(resp)}")


class VLLMBackend:
    """Talks to one vLLM server per base model: the base and its adapters share one; a full model gets its own."""

    kind = "vllm"

    def __init__(self, server: VLLMServer):
        self.fallback_reason: str | None = None
        self._servers = [server]
        self._routes: dict[str, VLLMServer] = {server.config.served_name: server}
        self._sources: dict[str, str] = {server.config.served_name: server.config.base}
        for name, path in server.adapters.items():
            self._routes[name], self._sources[name] = server, path

    @classmethod
    def start(cls, base: str, adapters: dict[str, str], serve: ServeConfig | None = None) -> VLLMBackend:
        lora = {n: p for n, p in adapters.items() if is_adapter(p)}
        for name, path in lora.items():
            kind = json.loads((Path(path) / "adapter_config.json").read_text(encoding="utf-8")).get("peft_type", "LORA")
            if kind != "LORA":
                raise ServeError(f"vLLM serves LoRA adapters only; '{name}' is a {kind} adapter (use transformers)")
        config = (serve or ServeConfig()).model_copy(update={"base": base})
        try:
            config = ServeConfig(**{**config.model_dump(), "adapters": {**config.adapters, **lora}})
        except ValueError as exc:  # pydantic's ValidationError: a bad adapter folder or name
            raise ServeError(str(exc)) from None
        backend = cls(start_server(config))
        try:
            for name, path in adapters.items():
                if name not in lora:
                    add_tuned(backend, name, path)
        except BaseException:
            backend.close()
            raise
        return backend

    @property
    def url(self) -> str:
        """The OpenAI-compatible URL of the base model's server (its adapters answer there too)."""
        return self._servers[0].url

    @property
    def api_key(self) -> str:
        """The base model's server's per-start key (send it as `Authorization: Bearer ...`)."""
        return self._servers[0].api_key

    def gpu_footprint(self, total_gb: float) -> tuple[float, float]:
        """(GB its servers reserve, GB their weights need at least): what `make_room` weighs."""
        reserved = sum((s.gpu_share or 0.0) * total_gb for s in self._servers)
        weights = sum(_weights_gb(s.model_dir or s.config.base) for s in self._servers)
        return reserved, weights * 1.2

    def models(self) -> dict[str, str]:
        return dict(self._sources)

    def _server(self, model: str) -> VLLMServer:
        if model not in self._routes:
            raise KeyError(f"no model named '{model}' is served (have: {', '.join(self._routes)})")
        return self._routes[model]

    def chat(self, model: str, messages: list[dict], sampling: Sampling) -> str:
        server = self._server(model)
        return openai_chat(server.url, model, messages, sampling, api_key=server.api_key)

    def stream(self, model: str, messages: list[dict], sampling: Sampling) -> Iterator[str]:
        server = self._server(model)
        return openai_stream(server.url, model, messages, sampling, api_key=server.api_key)

    def add_adapter(self, name: str, path: str | Path) -> None:
        main = self._servers[0]
        main.load_adapter(name, path)
        self._routes[name], self._sources[name] = main, str(Path(path).resolve())

    def add_model(self, name: str, path: str | Path) -> None:
        first = self._servers[0].config
        config = first.model_copy(update={"base": str(Path(path).resolve()), "served_name": name, "adapters": {},
                                          "port": None})  # fmt: skip
        server = start_server(config)
        self._servers.append(server)
        self._routes[name], self._sources[name] = server, str(Path(path).resolve())

    def remove_adapter(self, name: str) -> None:
        """Unload an adapter from the base model's server (vLLM's runtime LoRA API), or stop the server of a
        fully fine-tuned model."""
        server = self._server(name)
        if name == server.config.served_name and server is self._servers[0]:
            raise ValueError(f"'{name}' is the base model; close the backend to stop serving it")
        if server is self._servers[0]:
            server.unload_adapter(name)
        else:
            server.stop()
            self._servers.remove(server)
        del self._routes[name], self._sources[name]

    def alive(self) -> bool:
        return all(server.is_running() for server in self._servers)

    def close(self) -> None:
        for server in self._servers:
            server.stop()


# --- transformers in-process ----------------------------------------------------------------------------


class TransformersBackend:
    """One base model in memory with PEFT adapters switched on and off; full models load beside it.

    PEFT's active adapter is global to the model, so generations run one at a time under a lock: two
    concurrent requests are served one after the other (correct, not parallel).
    """

    kind = "transformers"

    def __init__(self, base: str = "default", device: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.fallback_reason: str | None = None
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        folder = resolve_model(base)
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self._model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(self.device).eval()
        self._dtype = dtype
        self._adapters: dict[str, str] = {}
        self._full: dict[str, object] = {}
        self._sources: dict[str, str] = {BASE: str(folder)}
        self._lock = threading.Lock()
        self._closing = threading.Event()  # set by close(): generations still running stop at the next token

    def models(self) -> dict[str, str]:
        return dict(self._sources)

    def add_adapter(self, name: str, path: str | Path) -> None:
        from peft import PeftModel

        folder = str(Path(path).expanduser().resolve())
        if not is_adapter(folder):
            raise FileNotFoundError(f"{folder} holds no adapter_config.json; point to a PEFT adapter folder")
        if self._adapters.get(name) == folder:
            return
        if name in self._sources and name not in self._adapters:
            raise ValueError(f"a model named '{name}' is already served; pick another name")
        with self._lock:
            if name in self._adapters:  # the same name for a newer run: replace it, as vLLM's load_inplace does
                self._model.delete_adapter(name)
            if isinstance(self._model, PeftModel):
                self._model.load_adapter(folder, adapter_name=name)
            else:
                self._model = PeftModel.from_pretrained(self._model, folder, adapter_name=name).eval()
        self._adapters[name] = folder
        self._sources[name] = folder

    def add_model(self, name: str, path: str | Path) -> None:
        from transformers import AutoModelForCausalLM

        folder = str(Path(path).expanduser().resolve())
        if name in self._sources:
            raise ValueError(f"a model named '{name}' is already served; pick another name")
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=self._dtype).to(self.device).eval()
        self._full[name], self._sources[name] = model, folder

    def remove_adapter(self, name: str) -> None:
        """Drop the adapter's weights from the PEFT model, or the fully fine-tuned model, once no generation
        runs (the lock); its memory is free once nothing else refers to it."""
        if name == BASE:
            raise ValueError(f"'{name}' is the base model; close the backend to stop serving it")
        if name not in self._sources:
            raise KeyError(f"no model named '{name}' is served (have: {', '.join(self._sources)})")
        with self._lock:
            if name in self._full:
                del self._full[name]
            elif len(self._adapters) == 1:
                # PEFT can't switch off a model left without adapters: take the plain base model back.
                peft = self._model
                self._model = peft.unload() if hasattr(peft.base_model, "unload") else peft.get_base_model()
            else:
                self._model.delete_adapter(name)
            self._adapters.pop(name, None)
            del self._sources[name]

    def model_for(self, name: str):
        """A context manager giving the torch model that answers as `name` (lock held, adapter set)."""
        return _ActiveModel(self, name)

    def chat(self, model: str, messages: list[dict], sampling: Sampling) -> str:
        return "".join(self.stream(model, messages, sampling))

    def stream(self, model: str, messages: list[dict], sampling: Sampling) -> Iterator[str]:
        from transformers import TextIteratorStreamer

        if model not in self._sources:
            raise KeyError(f"no model named '{model}' is served (have: {', '.join(self._sources)})")
        inputs = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                    return_dict=True)  # fmt: skip
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        stop = threading.Event()
        errors: list[BaseException] = []
        worker = threading.Thread(target=self._generate, args=(model, inputs, sampling, streamer, stop, errors),
                                  daemon=True)  # fmt: skip
        worker.start()
        try:
            for text in streamer:
                if text:
                    yield text
        finally:
            stop.set()  # the caller stopped reading: let the generation end early
            worker.join()
        if errors:
            raise errors[0]

    def _generate(self, model, inputs, sampling: Sampling, streamer, stop: threading.Event, errors: list) -> None:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        closing = self._closing

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return stop.is_set() or closing.is_set()

        kwargs = dict(max_new_tokens=sampling.max_tokens, pad_token_id=self.tokenizer.pad_token_id, streamer=streamer,
                      stopping_criteria=StoppingCriteriaList([_Stop()]))  # fmt: skip
        if sampling.temperature > 0:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        try:
            with self.model_for(model) as torch_model, torch.no_grad():
                if sampling.seed is not None:
                    torch.manual_seed(sampling.seed)
                torch_model.generate(**{k: v.to(self.device) for k, v in inputs.items()}, **kwargs)
        except BaseException as exc:  # surfaced to the reader of stream(), not lost in this thread
            errors.append(exc)
            streamer.end()

    def alive(self) -> bool:
        return True  # in this process: it lives as long as the app does

    def close(self) -> None:
        """Stop what is still generating (a client that gave up leaves its request running) and wait for it,
        so the process never exits under a running torch kernel."""
        self._closing.set()
        with self._lock:
            self._full.clear()


class _ActiveModel:
    def __init__(self, backend: TransformersBackend, name: str):
        self.backend, self.name = backend, name
        self._disabled = None

    def __enter__(self):
        b = self.backend
        b._lock.acquire()
        try:
            if self.name in b._full:
                return b._full[self.name]
            if self.name in b._adapters:
                b._model.set_adapter(self.name)
            elif hasattr(b._model, "disable_adapter"):
                self._disabled = b._model.disable_adapter()
                self._disabled.__enter__()
            return b._model
        except BaseException:
            b._lock.release()
            raise

    def __exit__(self, *exc):
        try:
            if self._disabled is not None:
                self._disabled.__exit__(*exc)
        finally:
            self.backend._lock.release()
