"""One orchestrator per command: loading, the gateway and the records wired together."""
