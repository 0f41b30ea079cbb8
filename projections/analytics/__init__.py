"""The analytics projection: domain events flattened into the rows of the Pinot schemas."""
