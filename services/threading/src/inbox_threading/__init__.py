"""Threading: who the customer is, which conversation a message belongs to, the message store."""
