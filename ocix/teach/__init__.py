"""Teaching texts shipped as package data: `explain` topics (topics/*.toml) and the tour's steps."""
