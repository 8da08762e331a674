"""The limits of `sanp prove`'s options (no imports: the argument parser of every
command reads them)."""

MAX_TIMEOUT = 86_400.0
"""The longest time budget of one property, in seconds (a day)."""
MAX_DEPTH = 256
"""The most halvings of a region on one branch: past a few dozen per dimension the
boxes are below float32 resolution, and the leaves of a deeper search would not fit
in memory anyway."""
MAX_VISITED_EPISODES = 100_000
"""The most episodes behind a 'visited' region."""
