"""Flax modules: ULTRA backbone, feature adapters, routing, MoE, model."""
