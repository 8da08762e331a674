"""sanp plug-ins for the tests: a toy policy format (`toy_format`) and a toy prune
recipe (`toy_recipe`), each found by sanp through an entry point (pyproject.toml)."""
