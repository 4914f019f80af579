"""The rules of the product, one module per domain noun."""
