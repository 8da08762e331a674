"""A small Signal Temporal Logic language with RTAMT semantics."""
