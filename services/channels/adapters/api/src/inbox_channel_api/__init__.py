"""The generic API channel: the worked example of the adapter guide (services/channels/ADAPTERS.md)."""
