"""Monitor deployed models from the gateway's request log: traffic and latency, drift from the training data,
flagged answers, canary feedback, hallucination and bias signals, and the export that closes the loop
(`finetune-assistant monitor`, `monitor export`, `monitor bias`; the app's Monitor tab)."""
