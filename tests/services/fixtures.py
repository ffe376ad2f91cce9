"""Session-scoped fixtures that start real local services on 127.0.0.1."""
