"""Image kinds: golden base images built from recipes, without a registry."""
