"""Formal one-step guarantees for a policy: properties over boxes of observations,
decided by a verifier behind the `Verifier` interface (Marabou by default), with branch
and bound where a property does not hold on the whole region."""
