"""Per-operation loaders (``strawberry.dataloader``): what sibling fields ask is gathered, then sent once."""
