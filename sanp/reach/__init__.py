"""Closed-loop reachability: prove a spec's requirements over a horizon, for a policy
and an env's declared dynamics (`sanp.envs.dynamics`), from the whole search box.

`prove_closed_loop` (`sanp.reach.run`) partitions the box; `sanp.reach.engine` carries
each cell through the loop as a box of states; `sanp.reach.bounds` bounds the network
(CROWN); `sanp.reach.interval` is the outward-rounded interval arithmetic the declared
dynamics run on; `sanp.reach.spec` reads requirements in three-valued logic.
"""
from sanp.reach.run import ReachConfig, ReachError, ReachResult, RequirementResult, prove_closed_loop

__all__ = ["ReachConfig", "ReachError", "ReachResult", "RequirementResult", "prove_closed_loop"]
