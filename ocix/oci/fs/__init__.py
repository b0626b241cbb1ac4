"""An image's filesystem from its layer tars: scan, extract, flatten, diff, waste, dive's score."""
