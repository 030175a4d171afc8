"""The analytics database: versioned migrations and retention."""
