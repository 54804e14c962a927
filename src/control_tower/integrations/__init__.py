"""Native integrations: other services' own webhook formats, verified their way."""
