"""Layer 3, what touches the world: project files, YAML on disk, the gateway, the records, governance delivery, metrics."""
