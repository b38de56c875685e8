"""Retrieval: embed actions in context, index training steps with FAISS, find neighbours."""
