"""Built-in kinds that need no target technology: File and Command."""
