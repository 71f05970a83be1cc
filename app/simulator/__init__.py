"""Patrol units driven along the demo city's road graph, reporting through the real device protocols."""
