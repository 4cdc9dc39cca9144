"""Plain data and settings: no I/O, and nothing of llmplan above this layer."""
