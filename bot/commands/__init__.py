"""What officers type and what it does: the grammar, the parser, one module per command family."""
