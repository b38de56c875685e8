"""Evaluation as library calls: how faithfully a world model reproduces recorded steps it has not
seen (a built model, or one built on the fly from trace files), eval suites, sim-to-real. The
runner, baselines and judges it scores with are `wmh.scoring`'s."""
