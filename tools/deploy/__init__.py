"""Deploy tuned models behind our OpenAI-compatible gateway: API keys, rate limits, canary splits, a request
log and feedback (`finetune-assistant deploy`, `finetune-assistant keys`); compose/k8s configs for GPU servers."""
