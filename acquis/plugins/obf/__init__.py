"""OpenBadge Factory adapter: issues badges through an establishment's own OBF account."""
