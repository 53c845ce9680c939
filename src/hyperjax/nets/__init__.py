"""Policy networks, hypernetwork layers and their initialization schemes."""
