"""The model store: the one owner of a model directory's layout (`layout.ModelFiles`), its card,
its staged publication under `<root>/models/<name>/`, its steps by split part, and its loading
into a ready world model."""
