"""MtaIMKG in JAX/Flax: one foundation model for multimodal knowledge graphs."""
