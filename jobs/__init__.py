"""Background work: workers and (later) the scheduler. Jobs take ids, claim, and are safe to run twice."""
