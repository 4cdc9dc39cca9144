"""Layer 1, plain data and settings: what a configuration, an environment, a plan and the records are.

No I/O and nothing of llmplan above it: every other layer may import this one.
"""
