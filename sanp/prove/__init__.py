"""Formal one-step guarantees for a policy: properties over boxes of observations,
decided by a verifier behind the `Verifier` interface (`verifiers` names them), with branch
and bound where a property does not hold on the whole region.

This package is also the top-level function `sanp.prove(policy, spec, **options)` (the
Python API's `sanp.api.prove`, which see): calling the module calls it, so that the
name means the same whichever was imported first."""
import sys as _sys
import types as _types


class _CallableModule(_types.ModuleType):
    def __call__(self, policy, spec, **options):
        from sanp.api import prove

        return prove(policy, spec, **options)


_sys.modules[__name__].__class__ = _CallableModule
