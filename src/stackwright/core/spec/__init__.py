"""Loading and validating a project's spec: files → located documents → declared resources."""
