"""The secure domain: the ``Secret`` kind (generated, rotated values kept in the secrets
store) and the client every domain uses to read the store through its Vault API."""
