"""llmplan: Terraform-style plan/apply for the model configuration of an LLM gateway."""

__version__ = "0.1.0"
