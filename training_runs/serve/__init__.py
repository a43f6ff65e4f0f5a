"""The multi-LoRA server: one base model, many LoRA adapters, OpenAI-compatible HTTP."""
