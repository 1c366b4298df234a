// Placeholder so the target builds; real sources follow.
