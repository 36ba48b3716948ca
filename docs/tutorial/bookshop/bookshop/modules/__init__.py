"""The bookshop's modules: each subpackage declares one with ``module = Module(...)``."""
