"""sanp: safety-aware neural pruning for deep RL controllers."""
__version__ = "0.1.0"
