"""Commands about images: pull and list, validate, layers and their waste, diff, cat and cp."""
