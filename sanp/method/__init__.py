"""The compression method: the paper's steps (step 1, recovery states, repair, the
held-out check, the loop) and the "deep" recipe that trains the surviving weights
(`finetune`: sparse distillation from the dense policy; `deep`: the gradual schedule
and the sparsity-keeping repair)."""
