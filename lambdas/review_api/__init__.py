"""The review API function: the review console and the `/api/reviews` routes behind one HTTP API handler."""
