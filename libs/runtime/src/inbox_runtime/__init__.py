"""Process plumbing shared by every service: settings, logging, lifecycle, gRPC, HTTP and SQLite."""
