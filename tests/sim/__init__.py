"""Simulator tests: devices, soft clients, the load generator and the edge (issue 6)."""
