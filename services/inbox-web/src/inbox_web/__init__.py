"""inbox-web: the agents' web app. Talks to the other services only through their gRPC APIs."""
