"""Reference apps the callback benchmark compares the service with."""
