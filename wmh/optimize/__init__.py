"""Optimisation: GEPA's reflective search over the environment prompt, through our adapter
(`gepa_adapter`) and the optimize stage (`evolve`); its judges are `wmh.scoring`'s."""
