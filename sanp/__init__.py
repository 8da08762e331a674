"""sanp: safety-aware neural pruning for deep RL controllers."""
import os as _os

# sanp's matrices are tiny: multi-threaded BLAS/OpenMP only adds contention (a GP step
# measured 17x slower with the default threads on 2 busy cores). Set before numpy loads;
# sanp.falsify also limits threads at run time for callers who imported numpy first.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")

__version__ = "0.1.0"
