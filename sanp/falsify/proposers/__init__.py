"""The built-in optimisers, one module each (`sanp.falsify.registry.PROPOSERS` names
them): `bo` (GPyOpt's GP-BO), `uniform` (uniform random)."""
